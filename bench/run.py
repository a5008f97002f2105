"""Coursebase benchmarks: the `make bench` entry point.

    python bench/run.py                  # every benchmark
    python bench/run.py --only validate  # one (repeatable)
    python bench/run.py --list

Benchmarks measure the real thing from the outside: the `cms` console
script run as a child process against generated content repositories
(`bench/generate.py`) kept in `bench/out/` (git-ignored) and reused while the
generator and its parameters are unchanged. Figures are printed as one
table per benchmark and written to `bench/out/results.json`.

Adding a benchmark: write a function `(Context) -> list[Result]` and decorate
it with `@benchmark`. Use `ctx.repo("1k")` / `ctx.repo("10k")` for content
(generated on first use) and `ctx.measure(cmd)` to time a command
(one warm-up run that also samples whole-tree memory, then `ctx.runs`
timed runs; best, median, peak RSS). Each `Result` is one figure for one `case`
(a row of the printed table); its `name` is the column. Give a `target`
such as "< 10" (in the result's unit) where the spec promises a figure, and
the runner reports whether it was met.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
OUT_DIR = BENCH_DIR / "out"
RESULTS_FILE = OUT_DIR / "results.json"

sys.path.insert(0, str(BENCH_DIR))
import generate  # noqa: E402, I001  (bench/ is not a package; run.py is run as a script)


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class Result:
    """One figure: `value` in `unit` for metric `name` on input `case`."""

    name: str
    value: float
    unit: str = ""
    target: str | None = None
    """A promise in the result's unit: "< 10", "<= 2", ">= 1000"; None if there is none."""
    case: str = ""
    benchmark: str = ""
    """Filled in by the runner: the benchmark function's name."""

    def met(self) -> bool | None:
        """Whether the target holds (None without a target)."""
        if self.target is None:
            return None
        match = re.fullmatch(r"\s*(<=|>=|<|>)\s*([0-9.eE+-]+)\s*", self.target)
        if match is None:
            raise ValueError(f"{self.name}: target {self.target!r} is not like '< 10'")
        op, bound = match.group(1), float(match.group(2))
        return {"<": self.value < bound, "<=": self.value <= bound,
                ">": self.value > bound, ">=": self.value >= bound}[op]


class BenchmarkError(Exception):
    """A benchmark could not produce honest figures (e.g. the command failed)."""


# --------------------------------------------------------------------------- inputs


@dataclass(frozen=True)
class RepoSpec:
    courses: int
    sections: int
    lessons: int
    """lessons per section"""
    seed: int = 7

    @property
    def total_lessons(self) -> int:
        return self.courses * self.sections * self.lessons


REPOS: dict[str, RepoSpec] = {
    "1k": RepoSpec(courses=4, sections=10, lessons=25),
    "10k": RepoSpec(courses=40, sections=10, lessons=25),
}


@dataclass(frozen=True)
class Repo:
    """A generated content repository, ready to use."""

    name: str
    spec: RepoSpec
    root: Path
    content: Path
    generate_seconds: float | None
    """None when an existing repository was reused."""

    @property
    def lessons(self) -> int:
        return self.spec.total_lessons

    def info(self) -> dict[str, object]:
        files = [p for p in self.content.rglob("*") if p.is_file()]
        return {**asdict(self.spec), "total_lessons": self.lessons, "path": str(self.root),
                "files": len(files), "megabytes": round(sum(p.stat().st_size for p in files) / 1e6, 1),
                "generate_seconds": None if self.generate_seconds is None else round(self.generate_seconds, 2),
                "reused": self.generate_seconds is None}


# --------------------------------------------------------------------------- measuring commands


@dataclass(frozen=True)
class Run:
    """One run of a child process."""

    seconds: float
    returncode: int
    stdout: str
    stderr: str
    max_rss_mb: float | None
    """Peak RSS of the largest single process in the child's tree (getrusage via wait4)."""
    tree_peak_mb: float | None = None
    """Peak of the summed PSS of the child and all its descendants (psutil sampling), when asked for."""


@dataclass(frozen=True)
class Measurement:
    runs: list[Run]
    tree_peak_mb: float | None

    @property
    def best(self) -> float:
        return min(run.seconds for run in self.runs)

    @property
    def median(self) -> float:
        return statistics.median(run.seconds for run in self.runs)

    @property
    def max_rss_mb(self) -> float | None:
        values = [run.max_rss_mb for run in self.runs if run.max_rss_mb is not None]
        return max(values) if values else None


def run_child(cmd: Sequence[str], *, cwd: Path | None = None, env: dict[str, str] | None = None,
              sample_tree: bool = False, timeout: float = 600) -> Run:
    """Run `cmd` to completion; wall time, output and peak memory.

    Peak RSS comes from the kernel (`wait4` rusage): the largest of the child
    and the descendants it waited for. With `sample_tree`, a thread also sums
    the PSS of the whole process tree every 20 ms (pool workers share pages
    with their parent, so PSS rather than RSS); that sampling costs CPU, so
    time such runs separately from the runs you report as timings.
    """
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        proc = subprocess.Popen(list(cmd), cwd=cwd, env=env, stdout=out, stderr=err, stdin=subprocess.DEVNULL)
        sampler = _TreeSampler(proc.pid) if sample_tree else None
        if sampler:
            sampler.start()
        try:
            _, status, usage = _wait4(proc.pid, timeout)
        except TimeoutError:
            proc.kill()
            proc.wait()
            raise BenchmarkError(f"timed out after {timeout} s: {' '.join(cmd)}") from None
        seconds = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped by wait4, tell Popen
        if sampler:
            sampler.stop()
        out.seek(0)
        err.seek(0)
        scale = 1 if sys.platform == "darwin" else 1024  # ru_maxrss: bytes on macOS, KiB on Linux
        return Run(seconds=seconds, returncode=proc.returncode, stdout=out.read().decode("utf-8", "replace"),
                   stderr=err.read().decode("utf-8", "replace"), max_rss_mb=usage.ru_maxrss * scale / 1e6,
                   tree_peak_mb=sampler.peak_mb if sampler else None)


def _wait4(pid: int, timeout: float) -> tuple[int, int, os.struct_rusage]:  # type: ignore[name-defined]
    deadline = time.monotonic() + timeout
    delay = 0.0005
    while True:
        reaped, status, usage = os.wait4(pid, os.WNOHANG)
        if reaped:
            return reaped, status, usage
        if time.monotonic() > deadline:
            raise TimeoutError
        time.sleep(delay)
        delay = min(delay * 2, 0.005)


class _TreeSampler(threading.Thread):
    """Samples the summed memory of a process tree until stopped."""

    def __init__(self, pid: int, interval: float = 0.02) -> None:
        super().__init__(daemon=True)
        self.pid, self.interval = pid, interval
        self.peak_mb: float | None = None
        self._stop_event = threading.Event()

    def run(self) -> None:
        try:
            import psutil
        except ImportError:
            return
        try:
            root = psutil.Process(self.pid)
        except psutil.Error:
            return
        while not self._stop_event.is_set():
            total = 0
            try:
                processes = [root, *root.children(recursive=True)]
            except psutil.Error:
                break
            for process in processes:
                with contextlib.suppress(psutil.Error):
                    total += _pss(process)
            if total:
                self.peak_mb = max(self.peak_mb or 0.0, total / 1e6)
            self._stop_event.wait(self.interval)

    def stop(self) -> None:
        self._stop_event.set()
        self.join()


def _pss(process: object) -> int:
    try:
        return process.memory_full_info().pss  # type: ignore[attr-defined]
    except AttributeError:  # no PSS on this platform
        return process.memory_info().rss  # type: ignore[attr-defined]


# --------------------------------------------------------------------------- context and registry


@dataclass
class Context:
    """What a benchmark gets: inputs (generated on demand), the cms command, settings."""

    runs: int = 3
    out_dir: Path = OUT_DIR
    log: Callable[[str], None] = print
    repos: dict[str, Repo] = field(default_factory=dict)

    @property
    def cms(self) -> Path:
        """The `cms` console script of this interpreter's environment."""
        script = Path(sys.executable).parent / ("cms.exe" if os.name == "nt" else "cms")
        if script.exists():
            return script
        found = shutil.which("cms")
        if found is None:
            raise BenchmarkError(f"no `cms` script next to {sys.executable} or on PATH: run `make install`")
        return Path(found)

    def repo(self, name: str) -> Repo:
        """A generated content repository by name (see REPOS), generated on first use."""
        if name not in self.repos:
            spec = REPOS[name]
            root = self.out_dir / name
            self.log(f"repo {name}: {'checking' if root.exists() else 'generating'} {root.relative_to(ROOT)} "
                     f"({spec.courses} courses x {spec.sections} sections x {spec.lessons} lessons)")
            content, seconds = generate.ensure(root, spec.courses, spec.sections, spec.lessons, spec.seed)
            self.repos[name] = Repo(name, spec, root, content, seconds)
            self.log(f"repo {name}: " + (f"generated {spec.total_lessons} lessons in {seconds:.1f} s"
                                         if seconds is not None else "reused (same generator and parameters)"))
        return self.repos[name]

    def measure(self, cmd: Sequence[str], *, cwd: Path | None = None, check: bool = True,
                tree_memory: bool = True) -> Measurement:
        """`self.runs` timed runs of `cmd`, after one untimed run that samples whole-tree memory.

        That first run doubles as the warm-up (page cache, imports), so a
        repository generated a moment ago is not timed cold.
        """
        tree = run_child(cmd, cwd=cwd, sample_tree=True).tree_peak_mb if tree_memory else None
        runs = []
        for _ in range(self.runs):
            run = run_child(cmd, cwd=cwd)
            if check and run.returncode != 0:
                raise BenchmarkError(f"`{' '.join(map(str, cmd))}` exited {run.returncode}:\n"
                                     + _tail(run.stdout + run.stderr))
            runs.append(run)
        return Measurement(runs=runs, tree_peak_mb=tree)


def _tail(text: str, lines: int = 25) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


Benchmark = Callable[[Context], list[Result]]
BENCHMARKS: list[Benchmark] = []


def benchmark(function: Benchmark) -> Benchmark:
    """Register a benchmark; its name (for --only and the results) is the function's name."""
    BENCHMARKS.append(function)
    return function


# --------------------------------------------------------------------------- benchmarks


VALIDATE_TARGETS = {"10k": "< 10"}
"""SPEC §2: `cms validate` "is fast: seconds for ten thousand files"."""


@benchmark
def validate(ctx: Context) -> list[Result]:
    """`cms validate` on 1,000 and 10,000 lessons: best-of-N wall time and peak memory."""
    results: list[Result] = []
    for name in ("1k", "10k"):
        repo = ctx.repo(name)
        cmd = [str(ctx.cms), "validate", str(repo.content), "--format", "json"]
        measured = ctx.measure(cmd, cwd=repo.root, check=False)
        for run in measured.runs:
            _require_clean(run, cmd)
        files = json.loads(measured.runs[0].stdout)["files"]
        results += [
            Result("lessons", repo.lessons, "", case=name),
            Result("files", files, "", case=name),
            Result("best", measured.best, "s", target=VALIDATE_TARGETS.get(name), case=name),
            Result("median", measured.median, "s", case=name),
            Result("files/s", files / measured.best, "files/s", case=name),
            Result("peak RSS", measured.max_rss_mb or 0.0, "MB", case=name),
            Result("peak tree PSS", measured.tree_peak_mb or 0.0, "MB", case=name),
        ]
    return results


def _require_clean(run: Run, cmd: Sequence[str]) -> None:
    """A validation benchmark only counts on a tree that validates clean."""
    try:
        report = json.loads(run.stdout)
    except ValueError:
        raise BenchmarkError(f"`{' '.join(cmd)}` exited {run.returncode} without a JSON report:\n"
                             + _tail(run.stdout + run.stderr)) from None
    if run.returncode != 0 or report.get("errors"):
        shown = "\n".join(f"  {p.get('file')}:{p.get('line')}: [{p.get('rule')}] {p.get('message')}"
                          for p in report.get("problems", [])[:20])
        raise BenchmarkError(f"the generated tree does not validate clean ({report.get('errors')} errors); "
                             f"fix bench/generate.py:\n{shown}")


# --------------------------------------------------------------------------- output


def format_value(value: float, unit: str) -> str:
    if unit == "" and float(value).is_integer():
        return f"{int(value):,}"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    if abs(value) >= 100:
        return f"{value:.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}" if unit != "s" else f"{value:.3f}"


def table(results: list[Result]) -> str:
    """Rows = cases, columns = metrics (with their unit), in order of appearance."""
    columns: dict[str, str] = {}
    rows: dict[str, dict[str, str]] = {}
    for result in results:
        header = f"{result.name} ({result.unit})" if result.unit and result.unit != result.name else result.name
        columns.setdefault(result.name, header)
        rows.setdefault(result.case, {})[result.name] = format_value(result.value, result.unit)
    headers = ["case", *columns.values()]
    body = [[case, *(cells.get(name, "") for name in columns)] for case, cells in rows.items()]
    widths = [max(len(str(row[i])) for row in [headers, *body]) for i in range(len(headers))]

    def line(row: list[str]) -> str:
        cells = zip(row, widths, strict=True)
        return "  ".join(cell.ljust(width) if i == 0 else cell.rjust(width) for i, (cell, width) in enumerate(cells))

    return "\n".join([line(headers), "  ".join("-" * w for w in widths), *map(line, body)])


def targets(results: list[Result]) -> list[str]:
    lines = []
    for result in results:
        met = result.met()
        if met is not None:
            lines.append(f"  {'ok  ' if met else 'MISS'} {result.benchmark} {result.case} {result.name}: "
                         f"{format_value(result.value, result.unit)} {result.unit} (target {result.target} "
                         f"{result.unit})")
    return lines


def load_average() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def usable_cpus() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def code_version() -> dict[str, object]:
    """Which Coursebase code was measured: HEAD and whether the working tree had changes."""
    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)
        return done.stdout.strip() if done.returncode == 0 else ""
    return {"commit": git("rev-parse", "HEAD") or None, "dirty": bool(git("status", "--porcelain", "--", "cms", "api"))}


def write_results(path: Path, results: list[Result], ran: list[str], repos: dict[str, Repo],
                  failures: dict[str, str], load: dict[str, list[float] | None]) -> None:
    """Write results; with --only, results of benchmarks not run this time are kept from the last file."""
    kept: list[dict[str, object]] = []
    kept_repos: dict[str, object] = {}
    if path.exists():
        try:
            previous = json.loads(path.read_text())
            kept = [r for r in previous.get("results", []) if r.get("benchmark") not in ran]
            kept_repos = previous.get("repos", {})
        except (ValueError, AttributeError):
            pass
    document = {
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"python": platform.python_version(), "platform": platform.platform(),
                    "cpus": os.cpu_count(), "usable_cpus": usable_cpus(), "load_average": load},
        "code": code_version(),
        "repos": {**kept_repos, **{name: repo.info() for name, repo in repos.items()}},
        "failures": failures,
        "results": kept + [{**asdict(r), "met": r.met()} for r in results],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2) + "\n")


def main(argv: list[str] | None = None) -> int:
    names = [b.__name__ for b in BENCHMARKS]
    parser = argparse.ArgumentParser(description="Run Coursebase benchmarks.")
    parser.add_argument("--only", action="append", choices=names, metavar="NAME",
                        help=f"run only this benchmark (repeatable): {', '.join(names)}")
    parser.add_argument("--list", action="store_true", help="list benchmarks and exit")
    parser.add_argument("--runs", type=int, default=3, help="timed runs per measurement; the best counts")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args(argv)
    if args.list:
        for function in BENCHMARKS:
            print(f"{function.__name__:12} {(function.__doc__ or '').strip().splitlines()[0]}")
        return 0

    ctx = Context(runs=max(1, args.runs))
    load = {"start": load_average()}
    if load["start"] and load["start"][0] > usable_cpus() / 2:
        print(f"note: the machine is busy (load {load['start'][0]} on {usable_cpus()} CPUs); "
              "timings will be noisy", file=sys.stderr)
    chosen = [b for b in BENCHMARKS if not args.only or b.__name__ in args.only]
    all_results: list[Result] = []
    failures: dict[str, str] = {}
    for function in chosen:
        print(f"\n== {function.__name__}: {(function.__doc__ or '').strip().splitlines()[0]}", flush=True)
        started = time.perf_counter()
        try:
            results = [replace(r, benchmark=function.__name__) for r in function(ctx)]
        except BenchmarkError as error:
            failures[function.__name__] = str(error)
            print(f"FAILED: {error}", file=sys.stderr)
            continue
        all_results += results
        print(f"({time.perf_counter() - started:.1f} s, best of {ctx.runs})\n{table(results)}")

    print("\n== summary")
    for name, repo in ctx.repos.items():
        info = repo.info()
        how = f"generated in {repo.generate_seconds:.1f} s" if repo.generate_seconds is not None else "reused"
        print(f"  repo {name}: {info['total_lessons']:,} lessons, {info['files']:,} files, "
              f"{info['megabytes']} MB, {how}")
    target_lines = targets(all_results)
    if target_lines:
        print("  targets:")
        print("\n".join(target_lines))
    for name in failures:
        print(f"  FAILED: {name}")
    load["end"] = load_average()
    print(f"  load average (1/5/15 min) at start {load['start']}, at end {load['end']}, {usable_cpus()} CPUs")
    write_results(RESULTS_FILE, all_results, [b.__name__ for b in chosen], ctx.repos, failures, load)
    print(f"  results written to {RESULTS_FILE.relative_to(ROOT)}")
    if failures:
        return 1
    if args.strict and any(r.met() is False for r in all_results):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
