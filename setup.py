"""Packaging beyond pyproject.toml: the development tools go into editable installs only.

The wheel, and so every deployment, holds the `peepopay` package alone (pyproject.toml's
`packages.find`). An editable install (`make install`, `pip install -e '.[dev]'`) is a
development checkout: it also maps the top-level `stripe_emulator` package and the `devstack`
module (`make run`), so both import from any directory, as `peepopay` does. Extras cannot
change which files a build holds, hence this hook on the editable build rather than the `dev`
extra; the tools need nothing beyond the runtime dependencies.
"""

from pathlib import Path

from setuptools import find_packages, setup
from setuptools.command.editable_wheel import editable_wheel

ROOT = Path(__file__).resolve().parent
DEV_PACKAGES = find_packages(where=str(ROOT), include=["stripe_emulator", "stripe_emulator.*"])
DEV_MODULES = [name for name in ("devstack",) if (ROOT / f"{name}.py").is_file()]


class EditableWithDevTools(editable_wheel):
    """`editable_wheel` that also maps the development tools next to the package."""

    def run(self) -> None:
        dist = self.distribution
        dist.packages = [*(dist.packages or []), *DEV_PACKAGES]
        dist.py_modules = [*(dist.py_modules or []), *DEV_MODULES]
        super().run()


setup(cmdclass={"editable_wheel": EditableWithDevTools})
