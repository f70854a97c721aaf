"""data.names(): the shipped 1990 US Census first names (tinygrad_sm/data/first_names.py)."""

from __future__ import annotations

import socket
import string
from importlib import resources
from pathlib import Path

import pytest

from tinygrad_sm import data


def test_about_five_thousand_distinct_lower_case_ascii_names_sorted_alphabetically():
    names = data.names()
    assert len(names) == 5163
    assert len(set(names)) == len(names)
    assert names == sorted(names)
    assert all(name and set(name) <= set(string.ascii_lowercase) for name in names)
    assert {"mary", "james", "emma", "zachary"} <= set(names)
    assert min(map(len, names)) >= 2


def test_each_call_returns_a_new_list():
    first = data.names()
    first.clear()
    assert len(data.names()) == 5163


def test_the_names_load_offline(monkeypatch):
    def no_network(*args, **kwargs):
        raise AssertionError("data.names() tried to use the network")

    monkeypatch.setattr(socket, "socket", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    data.first_names._read_names.cache_clear()
    assert len(data.names()) == 5163


def test_the_file_and_its_credit_are_package_data():
    folder = resources.files("tinygrad_sm.data")
    credit = folder.joinpath("NAMES_LICENSE.txt").read_text()
    assert "U.S. Census Bureau" in credit and "public domain" in credit and "Trey Hunner" in credit
    assert folder.joinpath("names.txt").read_text().split() == data.names()
    pyproject = Path(__file__).parents[2] / "pyproject.toml"
    if not pyproject.exists():
        pytest.skip("not running from a source checkout")
    (shipped,) = [line for line in pyproject.read_text().splitlines() if line.startswith('"tinygrad_sm.data" = [')]
    assert '"names.txt"' in shipped and '"NAMES_LICENSE.txt"' in shipped
