"""The local targets, independent of each other: the signal stack and the kwok control plane."""
