"""How every bench ends: each goal it missed on a line of its own, and the exit status."""

from __future__ import annotations


def verdict(missed: list[str]) -> int:
    """Print each missed goal (or that all were met); the exit status: 1 when any was missed."""
    for line in missed:
        print(f"GOAL MISSED: {line}")
    if not missed:
        print("all goals met")
    return 1 if missed else 0
