"""``inject`` on methods: plain, ``staticmethod`` and ``classmethod``, in either order."""

from torchsystem.depends import Depends, Provider, inject


def _device() -> str:
    return "cpu"


provider = Provider()


class Trainer:
    name = "trainer"

    @inject(provider)
    @staticmethod
    def static_inside(model: str, device: str = Depends(_device)) -> str:
        return f"{model} on {device}"

    @staticmethod
    @inject(provider)
    def static_outside(model: str, device: str = Depends(_device)) -> str:
        return f"{model} on {device}"

    @inject(provider)
    @classmethod
    def class_inside(cls, model: str, device: str = Depends(_device)) -> str:
        return f"{cls.name}: {model} on {device}"

    @classmethod
    @inject(provider)
    def class_outside(cls, model: str, device: str = Depends(_device)) -> str:
        return f"{cls.name}: {model} on {device}"

    @inject(provider)
    def method(self, model: str, device: str = Depends(_device)) -> str:
        return f"{self.name}: {model} on {device}"


class Child(Trainer):
    name = "child"


def test_staticmethod_under_inject_gets_no_instance() -> None:
    assert Trainer().static_inside("mlp") == "mlp on cpu"
    assert Trainer.static_inside("mlp") == "mlp on cpu"
    assert Trainer.static_inside("mlp", "cuda") == "mlp on cuda"


def test_staticmethod_over_inject_gets_no_instance() -> None:
    assert Trainer().static_outside("mlp") == "mlp on cpu"
    assert Trainer.static_outside("mlp", device="cuda") == "mlp on cuda"


def test_classmethod_under_inject_gets_the_class() -> None:
    assert Trainer.class_inside("mlp") == "trainer: mlp on cpu"
    assert Child().class_inside("mlp") == "child: mlp on cpu"
    assert Child.class_inside("mlp", "cuda") == "child: mlp on cuda"


def test_classmethod_over_inject_gets_the_class() -> None:
    assert Trainer().class_outside("mlp") == "trainer: mlp on cpu"
    assert Child.class_outside("mlp", device="cuda") == "child: mlp on cuda"


def test_plain_method_gets_the_instance() -> None:
    assert Child().method("mlp") == "child: mlp on cpu"


def test_inject_keeps_the_kind_of_method_it_was_given() -> None:
    assert isinstance(Trainer.__dict__["static_inside"], staticmethod)
    assert isinstance(Trainer.__dict__["class_inside"], classmethod)


def test_overrides_reach_static_and_class_methods() -> None:
    provider.override(_device, lambda: "mps")
    try:
        assert Trainer.static_inside("mlp") == "mlp on mps"
        assert Child.class_inside("mlp") == "child: mlp on mps"
    finally:
        del provider.dependency_overrides[_device]
    assert Trainer.static_inside("mlp") == "mlp on cpu"
