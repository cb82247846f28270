"""How fast hostile inputs are refused, as ratios to ordinary work measured in the same run.

* a "billion laughs" persona file (``--levels`` levels of ``--width`` aliases, 387 million values
  at 9 x 9) against loading one built-in persona file: the bomb must cost about as little;
* a 12,000 x 12,000 PNG pixel bomb against a 720 x 1280 screenshot in ``corpus import``: the bomb
  is refused from its header, so it must cost less than decoding an ordinary screenshot.

Prints seconds and ratios; the issue's bar is a bomb refused "within a second".

    python benchmarks/bench_hostile.py [--levels 9] [--width 9] [--repeat 5]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path


def _best(fn: Callable[[], object], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def billion_laughs(levels: int, width: int) -> str:
    lines = ["l0: &l0 [" + ", ".join(['"lol"'] * width) + "]"]
    for n in range(1, levels):
        lines.append(f"l{n}: &l{n} [" + ", ".join([f"*l{n - 1}"] * width) + "]")
    lines.append(f"personas: *l{levels - 1}")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--levels", type=int, default=9)
    parser.add_argument("--width", type=int, default=9)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    from PIL import Image

    from value_spectrum.personas.loading import BUILTIN_DIR, PersonaError, load_personas
    from value_spectrum.retrieval.importer import import_collection

    tmp = Path(tempfile.mkdtemp(prefix="bench-hostile-"))
    bomb = tmp / "laughs.yaml"
    bomb.write_text(billion_laughs(args.levels, args.width), encoding="utf-8")
    ordinary = sorted(Path(BUILTIN_DIR).glob("*.yaml"))[0]

    def refuse() -> None:
        try:
            load_personas(bomb)
        except PersonaError:
            return
        raise SystemExit("the bomb was loaded")

    t_bomb = _best(refuse, args.repeat)
    t_file = _best(lambda: load_personas(ordinary), args.repeat)
    print(f"alias bomb {args.levels}x{args.width}: refused in {t_bomb * 1000:.1f} ms; "
          f"one built-in persona file loads in {t_file * 1000:.1f} ms; ratio {t_bomb / t_file:.2f}")

    shots = {"bomb": (12_000, 12_000), "screenshot": (720, 1280)}
    times = {}
    for name, size in shots.items():
        src = tmp / f"in-{name}"
        src.mkdir()
        Image.new("1" if name == "bomb" else "RGB", size).save(src / f"{name}.png")
        n = 0

        def run(src: Path = src) -> None:
            nonlocal n
            n += 1
            import_collection(src, tmp / f"out-{src.name}-{n}", workers=1)

        times[name] = _best(run, args.repeat)
    print(f"pixel bomb 12000x12000: refused in {times['bomb'] * 1000:.1f} ms; a 720x1280 screenshot "
          f"imports in {times['screenshot'] * 1000:.1f} ms; ratio {times['bomb'] / times['screenshot']:.2f}")


if __name__ == "__main__":
    main()
