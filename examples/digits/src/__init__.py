"""The digits training system: the seed README's example, built on torchsystem."""
