"""Tests of the example scripts."""
