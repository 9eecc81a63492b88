"""The digits training system: the example of torchsystem 1.3's README, built on torchsystem."""
