"""`python -m bench`: every benchmark module's `main()` in this folder on SQLite (`make bench`);
`python -m bench --pg`: the platform-size benchmarks on PostgreSQL (`make bench-pg`). Each
prints its budgets as ok or OVER; non-zero if any is over."""

import importlib
import pkgutil
import sys
from pathlib import Path

# On PostgreSQL (a throwaway cluster each): the dashboard at platform size, the availability
# endpoint at 10 and 100,000 past bookings.
POSTGRESQL = {"pages": [], "widget": ["--database", "postgresql"]}
NOT_BENCHES = {"wsgi", "loadgen", "pgdata"}  # helpers: the data set is part of bench.pages


def main(argv: list[str] | None = None) -> int:
    pg = "--pg" in (sys.argv[1:] if argv is None else argv)
    failed = []
    if pg:
        plan = list(POSTGRESQL.items())
    else:
        names = sorted(m.name for m in pkgutil.iter_modules([str(Path(__file__).parent)]))
        plan = [
            (name, [])
            for name in names
            if not name.startswith("_") and name not in NOT_BENCHES and name not in {"pages"}
        ]
    for name, args in plan:
        bench = importlib.import_module(f"bench.{name}")
        if not hasattr(bench, "main"):
            continue
        print(f"== bench.{name} {' '.join(args)}", flush=True)
        if bench.main(args):
            failed.append(name)
    if failed:
        print(f"over budget: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
