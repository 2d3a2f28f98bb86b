"""The registry: snake_case names, lookups that suggest close names, duplicates refused, built-ins registered, and a
user's --usr_dir of loose modules or a package."""
import pytest

from helpers.usr import usr_module
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




def test_usr_dir_of_loose_modules_registers(tmp_path, builtins):
    (tmp_path / "my_problems.py").write_text(usr_module("MyLooseCifar", "my_loose_set"))
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
    (package / "problems.py").write_text(usr_module("MyPackagedCifar", "my_packaged_set"))
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
