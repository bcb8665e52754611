"""Shipped oracles: factories that return ASE calculators (see label.KNOWN).

``emt`` is ASE's EMT (fast, for tests).  ``chgnet`` is the CHGNet universal
potential, whose weights ship inside its wheel: nothing is downloaded.
"""


def chgnet(device="cpu", model="0.3.0", threads=None):
    """CHGNet as an ASE calculator (pip install 'mdsentry[chgnet]')."""
    try:
        from chgnet.model import CHGNet, CHGNetCalculator
    except ImportError as exc:
        raise RuntimeError("the chgnet oracle needs the chgnet package: "
                           "pip install -c pydriver/constraints.txt '.[chgnet]'") from exc
    if threads:
        import torch

        torch.set_num_threads(int(threads))
    return CHGNetCalculator(model=CHGNet.load(model_name=model, verbose=False), use_device=device)
