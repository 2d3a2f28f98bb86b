"""Listing and streaming image files from folders, tar archives and zip archives, without extracting them."""
import os
import tarfile
import zipfile

from imgtf.errors import CorruptDataError, DataNotFoundError

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg")


def list_images(folder, extensions=IMAGE_EXTENSIONS, recursive=True):
    """Sorted paths of image files under `folder`. A symbolic link whose target is gone is refused here, naming it
    (reading it later would fail inside tf.data with a bare NotFoundError)."""
    if not os.path.isdir(folder):
        raise DataNotFoundError(f"no such folder: {folder}")
    found = []
    for root, dirs, files in os.walk(folder):
        dirs.sort()
        found.extend(os.path.join(root, f) for f in sorted(files) if f.lower().endswith(extensions))
        if not recursive:
            break
    dangling = [path for path in found if not os.path.exists(path)]
    if dangling:
        shown = ", ".join(f"{path} -> {os.readlink(path)}" for path in dangling[:3])
        raise DataNotFoundError(f"{len(dangling)} image file(s) under {folder} are symbolic links to files that do not "
                                f"exist ({shown}{', ...' if len(dangling) > 3 else ''}): restore their targets or "
                                "remove the links.")
    return found


MAX_MEMBER_BYTES = 256 * 2 ** 20  # an archive member imgtf reads whole: a CIFAR batch is 31 MB, an image far less


def read_member(archive, member, path, limit=None):
    """The bytes of one tar or zip member, refused (CorruptDataError) when the size it declares is over `limit`: a
    small compressed archive can declare gigabytes, and reading a member is reading all it declares."""
    limit = MAX_MEMBER_BYTES if limit is None else limit
    size = member.size if isinstance(member, tarfile.TarInfo) else member.file_size
    name = member.name if isinstance(member, tarfile.TarInfo) else member.filename
    if size > limit:
        raise CorruptDataError(f"{path}: its member {name} declares {size} bytes, more than any file of the datasets "
                               f"imgtf reads ({limit} bytes): the archive is damaged or not the dataset's.")
    if isinstance(member, tarfile.TarInfo):
        return archive.extractfile(member).read()
    return archive.read(member)


def iter_tar_images(path, extensions=IMAGE_EXTENSIONS):
    """Yield (member name, bytes) of image members, streaming the archive sequentially (no extraction)."""
    try:
        with tarfile.open(path, "r|*") as tar:
            for member in tar:
                if member.isfile() and member.name.lower().endswith(extensions):
                    yield member.name, read_member(tar, member, path)
    except (tarfile.TarError, OSError, EOFError) as e:
        raise CorruptDataError(f"{path}: cannot read the archive ({type(e).__name__}: {e}); it may be truncated "
                               "or corrupt. Download it again.") from e


def count_tar_images(path, extensions=IMAGE_EXTENSIONS):
    """Number of image members (reads only headers of an uncompressed tar; it seeks over the data)."""
    try:
        with tarfile.open(path, "r:*") as tar:
            return sum(1 for m in tar if m.isfile() and m.name.lower().endswith(extensions))
    except (tarfile.TarError, OSError, EOFError) as e:
        raise CorruptDataError(f"{path}: cannot read the archive ({type(e).__name__}: {e}); it may be truncated "
                               "or corrupt. Download it again.") from e


def open_zip(path):
    try:
        return zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as e:
        raise CorruptDataError(f"{path}: not a readable zip archive ({type(e).__name__}: {e}); download it again.") from e
