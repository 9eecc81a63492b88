#!/usr/bin/env bash
# The checks that need a CUDA device (CI has none): the tests marked `gpu`, the training,
# storage and distributed suites with a GPU present, then the example on the GPU
# (torch.compile, checkpoints, a resume under torchrun with NCCL).
# Usage, on a machine with a GPU and torchsystem's dependencies installed:
#   scripts/gpu_checks.sh            # PYTHON=... to choose the interpreter
set -uo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python3}
work=$(mktemp -d)
status=0
step() { echo; echo "== $*"; }

step "device"
nvidia-smi -L || status=1
"$python" -c "import torch; print('torch', torch.__version__, 'CUDA', torch.version.cuda, \
torch.cuda.get_device_name(0), 'NCCL', torch.cuda.nccl.version())" || status=1

step "tests marked gpu"
"$python" -m pytest -o addopts=-ra -p no:cacheprovider -q -m gpu \
    tests/distributed/test_cuda.py tests/storage/test_resume.py \
    tests/training/test_optimization.py tests/training/test_service.py || status=1

step "training, storage and distributed suites with a GPU present"
"$python" -m pytest -o addopts=-ra -p no:cacheprovider -q \
    tests/training tests/storage tests/distributed tests/domain tests/consumers \
    tests/test_compiler.py tests/test_seed_example.py || status=1

step "the example on the GPU: 3 epochs, then a resume to 5 under torchrun (NCCL)"
(
    cd examples/digits || exit 1
    "$python" -m src.main --epochs 3 --checkpoints "$work/checkpoints" --runs "$work/runs" \
        || exit 1
    "$python" -m torch.distributed.run --standalone --nproc_per_node=1 -m src.main \
        --epochs 5 --checkpoints "$work/checkpoints" --runs "$work/runs" || exit 1
) 2>&1 | tee "$work/example.log" | grep -v "it/s\]$" || status=1
grep -q "resumed" "$work/example.log" || { echo "the second run did not resume"; status=1; }

rm -rf "$work"
echo; [ $status = 0 ] && echo "== every GPU check passed" || echo "== a GPU check FAILED"
exit $status
