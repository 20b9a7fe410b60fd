"""`python -m bench`: every benchmark module's `main()` in this folder; non-zero if any fails."""

import importlib
import pkgutil
import sys
from pathlib import Path


def main() -> int:
    failed = []
    for module in sorted(pkgutil.iter_modules([str(Path(__file__).parent)]), key=lambda m: m.name):
        if module.name.startswith("_") or module.name == "wsgi":
            continue
        bench = importlib.import_module(f"bench.{module.name}")
        if not hasattr(bench, "main"):
            continue
        print(f"== bench.{module.name}", flush=True)
        if bench.main([]):
            failed.append(module.name)
    if failed:
        print(f"over budget: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
