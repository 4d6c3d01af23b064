"""Recompute the C2ST of benchmark runs with sbibm's own implementation.

`ssnl benchmark` scores each run with `ssnl.metrics.c2st`. This script scores the saved files
of the same runs (`posterior.nc` and `reference.npz`) with the function `c2st` of sbibm 1.1.0
(`sbibm/metrics/c2st.py`), as an independent check of the protocol. It needs an environment
with PyTorch, scikit-learn, xarray and h5netcdf, and sbibm installed without its
dependencies, for example the one that `benchmarks/compare_sbi.py` uses:

    /tmp/sbi-venv/bin/pip install --no-deps sbibm==1.1.0
    /tmp/sbi-venv/bin/python benchmarks/c2st_sbibm.py DIR/two_moons/obs1/ssnl-1000-seed1

sbibm's package imports its tasks and their dependencies, so the script loads only the file
`metrics/c2st.py`, found with `importlib.util.find_spec` without importing the package.
"""

import argparse
import importlib.util
from pathlib import Path

import numpy as np
import xarray


def load_sbibm_c2st():
    """Return sbibm's `c2st` function, loaded from its file."""
    spec = importlib.util.find_spec("sbibm")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(
            "sbibm is not installed in this environment; install it with "
            "'pip install --no-deps sbibm==1.1.0'."
        )
    path = Path(spec.submodule_search_locations[0]) / "metrics" / "c2st.py"
    module_spec = importlib.util.spec_from_file_location("sbibm_c2st", path)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module.c2st


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dirs", nargs="+", type=Path, help="folders of benchmark runs")
    args = parser.parse_args()

    import torch

    c2st = load_sbibm_c2st()
    for run_dir in args.run_dirs:
        with np.load(run_dir / "reference.npz") as stored:
            reference = stored["samples"]
        with xarray.open_dataset(
            run_dir / "posterior.nc", group="posterior", engine="h5netcdf"
        ) as posterior:
            samples = np.asarray(posterior["theta"].values, dtype=np.float32)
        samples = samples.reshape(-1, samples.shape[-1])
        # sbibm's benchmark passes the reference samples first, so they set the z-scoring.
        score = float(c2st(torch.from_numpy(reference), torch.from_numpy(samples))[0])
        print(f"{run_dir}: sbibm_c2st={score:.4f}")


if __name__ == "__main__":
    main()
