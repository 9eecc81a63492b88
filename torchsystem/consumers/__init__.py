"""Ready consumers: TensorBoard, a progress bar, early stopping, an epoch summary, and
background delivery. Each is one import and one ``producer.register(...)`` away.

Optional battery: the core never imports it. TensorBoard and tqdm are imported only when
the consumer that needs them is made, so importing this package loads neither.
"""

from torchsystem.consumers.background import Background
from torchsystem.consumers.earlystopping import EarlyStopped, EarlyStopping
from torchsystem.consumers.progress import ProgressBar
from torchsystem.consumers.summary import EpochSummary
from torchsystem.consumers.tensorboard import TensorBoard

__all__ = [
    "Background",
    "EarlyStopped",
    "EarlyStopping",
    "EpochSummary",
    "ProgressBar",
    "TensorBoard",
]
