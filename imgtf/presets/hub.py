"""Presets on model hubs: `hf://owner/name` (Hugging Face) and `kaggle://owner/model/framework/variation[/version]`
(Kaggle Models), downloaded and published through `huggingface_hub` and `kagglehub`.

The clients are optional (`pip install imgtf[hub]`) and imported only when a handle needs them. What a hub returns
is a local directory, checked like any other preset before it is read (imgtf.presets.preset_files)."""
import importlib

SCHEMES = {"hf": ("huggingface_hub", "huggingface_hub"), "kaggle": ("kagglehub", "kagglehub")}


class HubError(ValueError):
    """A malformed handle, or a hub client that is missing or failed; the message says what to do."""


def is_handle(text):
    return isinstance(text, str) and text.split("://", 1)[0] in SCHEMES and "://" in text


def parse(handle):
    """(scheme, path) of a handle, checked: hf://OWNER/NAME, kaggle://OWNER/MODEL/FRAMEWORK/VARIATION[/VERSION]."""
    scheme, _, path = handle.partition("://")
    parts = path.strip("/").split("/")
    if any(not p or p in (".", "..") for p in parts):
        raise HubError(f"{handle!r}: a handle's parts are names, e.g. hf://OWNER/NAME or "
                       "kaggle://OWNER/MODEL/FRAMEWORK/VARIATION.")
    if scheme == "hf" and len(parts) != 2:
        raise HubError(f"{handle!r}: a Hugging Face handle is hf://OWNER/NAME (the model repository).")
    if scheme == "kaggle" and len(parts) not in (4, 5):
        raise HubError(f"{handle!r}: a Kaggle handle is kaggle://OWNER/MODEL/FRAMEWORK/VARIATION, optionally with "
                       "/VERSION (a number), e.g. kaggle://me/pixelcnn/keras/binarized_mnist/1.")
    if scheme == "kaggle" and len(parts) == 5 and not parts[4].isdigit():
        raise HubError(f"{handle!r}: the Kaggle version (the last part) is a number.")
    return scheme, "/".join(parts)


def client(scheme):
    """The hub's client module, or the install hint."""
    module, package = SCHEMES[scheme]
    try:
        return importlib.import_module(module)
    except ImportError:
        raise HubError(f"{scheme}:// handles need the {package} package: pip install {package} (or pip install "
                       "'imgtf[hub]').") from None


def download(handle):
    """The local directory holding the preset `handle` names (the hub client's cache)."""
    scheme, path = parse(handle)
    hub = client(scheme)
    try:
        if scheme == "hf":
            return hub.snapshot_download(repo_id=path)
        return hub.model_download(path)
    except Exception as e:  # the clients raise their own error types (network, authentication, not found)
        raise HubError(f"downloading {handle} failed ({type(e).__name__}: {e}). Check the handle and your network "
                       "or login, or download the preset yourself and pass its directory.") from e


def upload(preset_dir, handle, message):
    """Publish the directory `preset_dir` as `handle` (a new revision or version), with `message`."""
    scheme, path = parse(handle)
    hub = client(scheme)
    try:
        if scheme == "hf":
            api = hub.HfApi()
            api.create_repo(repo_id=path, exist_ok=True)
            api.upload_folder(repo_id=path, folder_path=preset_dir, commit_message=message)
        else:
            if len(path.split("/")) == 5:
                raise HubError(f"{handle!r}: upload to kaggle://OWNER/MODEL/FRAMEWORK/VARIATION; Kaggle numbers "
                               "the versions itself.")
            hub.model_upload(path, preset_dir, version_notes=message)
    except HubError:
        raise
    except Exception as e:
        raise HubError(f"uploading {preset_dir} to {handle} failed ({type(e).__name__}: {e}). Check the handle, "
                       "your network and that you are logged in (huggingface-cli login / kagglehub.login()).") from e
