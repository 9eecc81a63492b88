"""The service layer: services called by name, producer/consumer and publisher/subscriber."""

from torchsystem.depends import Depends
from torchsystem.services._delivery import Routable
from torchsystem.services._registration import Registration
from torchsystem.services.prodcon import Consumer, Producer, event
from torchsystem.services.pubsub import Publisher, Subscriber
from torchsystem.services.service import HandlerNotFoundError, Service

__all__ = [
    "Consumer",
    "Depends",
    "HandlerNotFoundError",
    "Producer",
    "Publisher",
    "Registration",
    "Routable",
    "Service",
    "Subscriber",
    "event",
]
