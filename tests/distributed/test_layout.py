"""``torchsystem.distributed`` sits on top: what it builds on never imports it."""

from __future__ import annotations

import subprocess
import sys

from tests.test_layout import _module_name, _modules, _reachable


def test_no_other_module_imports_the_distributed_package() -> None:
    others = [_module_name(path) for path in _modules()
              if not _module_name(path).startswith("torchsystem.distributed")]

    reached = {(start, name) for start in others for name in _reachable(start)
               if name.startswith("torchsystem.distributed")}

    assert reached == set()


def test_importing_it_starts_no_process_group() -> None:
    code = ("import torch.distributed as dist, torchsystem.distributed as d; "
            "print(dist.is_initialized(), d.rank(), d.world_size())")

    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True, env={"PATH": ""})

    assert done.stdout.split() == ["False", "0", "1"]
