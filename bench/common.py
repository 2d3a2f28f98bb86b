"""Helpers shared by benchmarks: run one configuration per subprocess, report its peak memory."""
import json
import os
import resource
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED_DATA = os.environ.get("IMGTF_SHARED_DATA", os.path.join(REPO, "..", "shared", "data"))


def peak_rss_mib():
    """This process's peak resident memory (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _rss_mib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return 0.0


def run_child(script, args, memory_cap_mib, timeout_s):
    """Run `python script args...`; it prints one JSON line last. Kill it above `memory_cap_mib` resident."""
    proc = subprocess.Popen([sys.executable, script, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, cwd=REPO)
    peak, start, killed = 0.0, time.time(), None
    while proc.poll() is None:
        peak = max(peak, _rss_mib(proc.pid))
        if peak > memory_cap_mib:
            killed = f"exceeded the {memory_cap_mib / 1024:.0f} GiB memory cap"
        elif time.time() - start > timeout_s:
            killed = f"exceeded the {timeout_s} s time cap"
        if killed:
            proc.kill()
            break
        time.sleep(0.1)
    out, err = proc.communicate()
    if killed:
        return {"error": killed, "peak_rss_mib": peak}
    try:
        return json.loads(out.strip().splitlines()[-1])
    except (IndexError, ValueError):
        return {"error": f"exit {proc.returncode}: {err.strip().splitlines()[-1] if err.strip() else 'no output'}",
                "peak_rss_mib": peak}


def cifar_model_and_problem(set_name):
    """(model, problem) to run an hparams set on the CIFAR-10 data here: the model it was registered for, and the
    CIFAR-10 problem of its kind (image-to-image sets: img2img_cifar10)."""
    from imgtf import catalog, registry

    catalog.load_builtins()
    model = registry.model_and_problem_of(set_name)[0]
    return model, ("img2img_cifar10" if model == "img2img_transformer" else "image_cifar10")


def distinct_tiny_sets():
    """Every registered `_tiny` set, one of each distinct (model, hparams): an ImageNet set equal to its CIFAR-10 twin
    runs as the same model on the CIFAR-10 data here."""
    from imgtf import catalog, registry

    catalog.load_builtins()
    names, seen = [], set()
    for name in registry.hparams_sets.names():
        if name.endswith("_tiny"):
            key = (registry.model_and_problem_of(name)[0], repr(sorted(registry.hparams(name).values().items())))
            if key not in seen:
                seen.add(key)
                names.append(name)
    return names


# -- plots, drawn with Pillow (no plotting dependency) ------------------------------------------------------------
COLOURS = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189), (140, 86, 75),
           (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207), (0, 0, 128), (128, 128, 0),
           (0, 128, 128), (128, 0, 0)]


def draw_curves(draw, curves, px, py, legend_x, top):
    """Each (name, [(x, y), ...]) curve as a coloured line with dots (px, py map values to pixels), and a legend
    right of `legend_x` naming it with its last value."""
    for i, (name, curve) in enumerate(curves):
        colour = COLOURS[i % len(COLOURS)]
        pts = [(px(x), py(y)) for x, y in curve]
        if len(pts) > 1:
            draw.line(pts, fill=colour, width=2)
        for x, y in pts:
            draw.ellipse([x - 3, y - 3, x + 3, y + 3], fill=colour)
        ly = top + 18 * i
        draw.line([legend_x + 15, ly + 6, legend_x + 40, ly + 6], fill=colour, width=3)
        draw.text((legend_x + 46, ly), f"{name} ({curve[-1][1]:.2f})", fill="black")


# -- results files: what the docs show ----------------------------------------------------------------------------
RESULTS_DIR = os.path.join(REPO, "docs", "results")
EXAMPLES_DATA = os.path.join(REPO, "examples", "data")
CIFAR10_SAMPLE = os.path.join(EXAMPLES_DATA, "cifar10")  # the real CIFAR-10 sample every clone has


def provenance(argv):
    """Where a figure comes from: the command, commit, date, machine (CPU, cores, accelerator) and versions."""
    import datetime
    import platform

    def git(*args):
        try:
            return subprocess.run(["git", *args], capture_output=True, text=True, cwd=REPO, timeout=30).stdout.strip()
        except OSError:
            return ""

    cpu = platform.processor()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    except OSError:
        pass
    versions = {"python": platform.python_version()}
    for module in ("tensorflow", "keras", "numpy"):
        try:
            versions[module] = __import__(module).__version__
        except ImportError:
            pass
    accelerators = []
    if "tensorflow" in sys.modules:  # imported just above for its version, when installed
        import tensorflow as tf

        accelerators = [d.device_type for d in tf.config.list_physical_devices() if d.device_type != "CPU"]
    return {"command": "python " + " ".join(argv), "commit": git("rev-parse", "--short", "HEAD"),
            "uncommitted_changes": bool(git("status", "--porcelain", "--untracked-files=no")),
            "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "machine": {"cpu": cpu, "cores": os.cpu_count(), "accelerators": accelerators or ["none"]},
            "versions": versions}


class _Tee:
    def __init__(self, stream):
        self.stream, self.parts = stream, []

    def write(self, text):
        self.parts.append(text)
        return self.stream.write(text)

    def flush(self):
        self.stream.flush()


def run_with_results(name, main):
    """Run a benchmark's `main()`, its printed report also written as results: `--out=DIR` (default docs/results)
    gets DIR/<name>.md (a provenance line, then the report as printed) and DIR/<name>.json (the provenance, the
    report, and anything the benchmark passed to `record`). `--out=` (empty) writes nothing. docs/benchmarks.md
    includes the .md files as written (`python bench/include_results.py` copies them in)."""
    argv, out = [sys.argv[0]], RESULTS_DIR
    for arg in sys.argv[1:]:
        if arg.startswith("--out="):
            out = arg.split("=", 1)[1]
        else:
            argv.append(arg)
    command = [os.path.relpath(os.path.abspath(sys.argv[0]), REPO), *argv[1:]]
    sys.argv = argv
    if any(a == "--child" or a.startswith("--child=") for a in argv):
        return main()
    meta = provenance(command)  # the commit and date when it started (HEAD may move while a long one runs)
    tee = sys.stdout = _Tee(sys.stdout)
    try:
        main()
    finally:
        sys.stdout = tee.stream
    if not out:
        return
    report = "".join(tee.parts).strip()
    os.makedirs(out, exist_ok=True)
    machine = meta["machine"]
    dirty = " (with uncommitted changes)" if meta["uncommitted_changes"] else ""
    header = (f"`{meta['command']}` at commit {meta['commit']}{dirty}, {meta['date']}, on {machine['cpu']} "
              f"({machine['cores']} cores; accelerator: {', '.join(machine['accelerators'])}); "
              + ", ".join(f"{k} {v}" for k, v in meta["versions"].items()))
    with open(os.path.join(out, f"{name}.md"), "w") as f:
        f.write(f"{header}\n\n{report}\n")
    with open(os.path.join(out, f"{name}.json"), "w") as f:
        json.dump({"provenance": meta, "report": report, "data": _RECORDED}, f, indent=2, default=str)
    print(f"\nresults: {os.path.join(out, name)}.md and .json", file=sys.stderr)


_RECORDED = {}


def record(**values):
    """Figures a benchmark wants in its results JSON as data (besides its printed report)."""
    _RECORDED.update(values)
