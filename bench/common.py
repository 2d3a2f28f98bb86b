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
