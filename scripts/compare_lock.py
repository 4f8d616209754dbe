"""Print the installed distributions whose version differs from a lock file (constraints/ci.txt).

    python scripts/compare_lock.py constraints/ci.txt
"""

import sys
from importlib import metadata
from pathlib import Path


def main(lock_path: str) -> None:
    pinned = {}
    for line in Path(lock_path).read_text().splitlines():
        name, sep, version = line.partition("==")
        if sep and not line.startswith("#"):
            pinned[name.strip().lower().replace("_", "-")] = version.strip()
    installed = {d.metadata["Name"].lower().replace("_", "-"): d.version for d in metadata.distributions()}
    changed = [f"  {name}: {pinned[name]} -> {installed[name]}" for name in sorted(pinned)
               if name in installed and installed[name] != pinned[name]]
    added = [f"  {name}: (not in the lock) {installed[name]}" for name in sorted(set(installed) - set(pinned))
             if name not in ("pixelboard", "pip", "setuptools", "wheel")]
    print(f"versions that differ from {lock_path}: {len(changed) + len(added)}")
    print("\n".join(changed + added) if changed or added else "  none")


if __name__ == "__main__":
    main(sys.argv[1])
