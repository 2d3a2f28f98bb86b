import os
import subprocess
import sys
import textwrap

import pytest

from imgtf import catalog, registry
from imgtf.registry import DuplicateNameError, Registry, UnknownNameError, UsrDirError, snake_case


@pytest.mark.parametrize("name,expected", [
    ("ImageCifar10", "image_cifar10"), ("ImageTransformer", "image_transformer"), ("PixelCNN", "pixel_cnn"),
    ("Img2imgCelebA", "img2img_celeb_a"), ("imagetransformer_cifar10_tiny", "imagetransformer_cifar10_tiny"),
])
def test_snake_case(name, expected):
    assert snake_case(name) == expected


def test_register_lookup_and_listing():
    table = Registry("model")

    @table.register
    class MyFancyModel:
        pass

    @table.register("other_name")
    def builder():
        return 1

    assert table.get("my_fancy_model") is MyFancyModel
    assert MyFancyModel.registered_name == "my_fancy_model"
    assert table.get("other_name") is builder
    assert table.names() == ["my_fancy_model", "other_name"]


def test_unknown_name_suggests_close_matches_and_how_to_list():
    table = Registry("problem")
    table.register("image_cifar10")(type("A", (), {}))
    table.register("image_imagenet32")(type("B", (), {}))
    with pytest.raises(UnknownNameError) as e:
        table.get("image_cifar")
    message = str(e.value)
    assert "'image_cifar'" in message and "image_cifar10" in message and "--registry_help" in message


def test_duplicate_registration_is_an_error():
    table = Registry("hparams set")
    table.register("same")(lambda: 1)
    with pytest.raises(DuplicateNameError, match="already registered"):
        table.register("same")(lambda: 2)


def test_builtins_are_registered(builtins):
    assert "image_cifar10" in registry.problems
    assert "image_transformer" in registry.models
    assert {"imagetransformer_cifar10_base", "imagetransformer_cifar10_tiny"} <= set(registry.hparams_sets.names())
    text = registry.registry_help()
    assert "image_cifar10" in text and "imagetransformer_cifar10_tiny" in text


USR_MODULE = textwrap.dedent('''
    from imgtf.registry import register_hparams, register_problem
    from imgtf.problems.cifar10 import ImageCifar10
    from imgtf.models.image_transformer.hparams_sets import imagetransformer_cifar10_tiny

    @register_problem
    class {cls}(ImageCifar10):
        """A user's problem: CIFAR-10 under another name."""

    @register_hparams
    def {hp}():
        hp = imagetransformer_cifar10_tiny()
        hp.hidden_size = 32
        return hp
''')


def test_usr_dir_of_loose_modules_registers(tmp_path, builtins):
    (tmp_path / "my_problems.py").write_text(USR_MODULE.format(cls="MyLooseCifar", hp="my_loose_set"))
    registry.import_usr_dir(str(tmp_path))
    try:
        assert registry.problem("my_loose_cifar").num_classes == 10
        assert registry.hparams("my_loose_set").hidden_size == 32
        registry.import_usr_dir(str(tmp_path))  # importing twice is harmless
    finally:
        registry.problems.unregister("my_loose_cifar")
        registry.hparams_sets.unregister("my_loose_set")


def test_usr_dir_package_registers(tmp_path, builtins):
    package = tmp_path / "usr_pkg_for_test"
    package.mkdir()
    (package / "__init__.py").write_text("from . import problems\n")
    (package / "problems.py").write_text(USR_MODULE.format(cls="MyPackagedCifar", hp="my_packaged_set"))
    registry.import_usr_dir(str(package))
    try:
        assert "my_packaged_cifar" in registry.problems and "my_packaged_set" in registry.hparams_sets
    finally:
        registry.problems.unregister("my_packaged_cifar")
        registry.hparams_sets.unregister("my_packaged_set")


def test_usr_dir_errors_name_the_problem(tmp_path):
    with pytest.raises(UsrDirError, match="no such directory"):
        registry.import_usr_dir(str(tmp_path / "absent"))
    (tmp_path / "broken.py").write_text("import not_a_real_module_xyz\n")
    with pytest.raises(UsrDirError, match="broken.py"):
        registry.import_usr_dir(str(tmp_path))


def test_trainer_registry_help_lists_usr_dir_entries(tmp_path):
    (tmp_path / "mine.py").write_text(USR_MODULE.format(cls="CliUserCifar", hp="cli_user_set"))
    out = subprocess.run([sys.executable, "-m", "imgtf.commands.trainer", "--registry_help", f"--usr_dir={tmp_path}"],
                         capture_output=True, text=True, timeout=120, cwd=os.path.dirname(os.path.dirname(__file__)))
    assert out.returncode == 0, out.stderr
    assert "cli_user_cifar" in out.stdout and "cli_user_set" in out.stdout and "image_transformer" in out.stdout


def test_run_directory_remembers_its_usr_dir(tmp_path, builtins):
    """Later commands on a run made with --usr_dir import it themselves (from hparams.json); if it has moved,
    the error says which flag to pass."""
    from imgtf.train import run_dir

    usr = tmp_path / "usr"
    usr.mkdir()
    (usr / "mine.py").write_text(USR_MODULE.format(cls="RememberedCifar", hp="remembered_set"))
    registry.import_usr_dir(str(usr))
    try:
        spec = run_dir.resolve(str(tmp_path / "run"), "remembered_cifar", "image_transformer", "remembered_set",
                               usr_dir=str(usr))
        run_dir.save(spec, str(tmp_path / "run"))
    finally:
        registry.problems.unregister("remembered_cifar")
        registry.hparams_sets.unregister("remembered_set")
    code = ("import sys; from imgtf import catalog, registry; from imgtf.train import run_dir; catalog.load_builtins()\n"
            "try:\n    s = run_dir.resolve(sys.argv[1]); print(s.make_problem().name, s.hparams.hidden_size)\n"
            "except run_dir.RunDirError as e:\n    print(e); sys.exit(3)")
    fresh = [sys.executable, "-c", code, str(tmp_path / "run")]
    repo = os.path.dirname(os.path.dirname(__file__))
    found = subprocess.run(fresh, capture_output=True, text=True, timeout=120, cwd=str(tmp_path))
    assert found.returncode == 0 and found.stdout.split() == ["remembered_cifar", "32"], found.stderr[-2000:]
    usr.rename(tmp_path / "moved")
    lost = subprocess.run(fresh, capture_output=True, text=True, timeout=120, cwd=repo)
    assert lost.returncode == 3 and f"created with --usr_dir={usr}" in lost.stdout
    assert "problem 'remembered_cifar', hparams set 'remembered_set' come from it. Pass --usr_dir=" in lost.stdout
