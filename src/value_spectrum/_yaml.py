"""A YAML safe loader that cannot be made to expand an alias bomb.

Used for every YAML file a user hands the toolkit (persona files, instruments, keyword lists).
Depends on nothing in the package.
"""

from __future__ import annotations

from typing import Any

import yaml

try:  # the C parser is several times faster; fall back when libyaml is absent
    _SafeBase: Any = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - depends on how PyYAML was built
    _SafeBase = yaml.SafeLoader

MAX_EXPANDED_NODES = 100_000
"""The most YAML nodes a document may stand for once every alias is followed. A persona file of
a thousand personas is a few tens of thousands; a "billion laughs" file of nine levels of nine
aliases stands for 387 million, which would hang validation and fill memory."""


class AliasBomb(yaml.YAMLError):
    """A document whose aliases expand past the bound; ``nodes`` is how far the count got."""

    def __init__(self, nodes: int) -> None:
        super().__init__(
            f"refused: its aliases expand to more than {MAX_EXPANDED_NODES:,} values "
            f"(at least {nodes:,}; an alias bomb?)"
        )
        self.nodes = nodes


def expanded_size(node: yaml.Node, limit: int = MAX_EXPANDED_NODES) -> int:
    """How many nodes ``node`` stands for with every alias followed, counted without expanding
    anything (each shared node's size is computed once).

    Raises:
        yaml.YAMLError: the count passes ``limit`` (the message says by how much it would grow).
    """
    sizes: dict[int, int] = {}
    stack: list[tuple[yaml.Node, bool]] = [(node, False)]
    while stack:  # iterative: a deeply nested document must not hit the recursion limit
        current, children_done = stack.pop()
        key = id(current)
        if key in sizes and not children_done:
            continue
        if isinstance(current, yaml.MappingNode):
            kids: list[yaml.Node] = [n for pair in current.value for n in pair]
        elif isinstance(current, yaml.SequenceNode):
            kids = list(current.value)
        else:
            sizes[key] = 1
            continue
        if children_done:
            total = 1 + sum(sizes[id(k)] for k in kids)
            sizes[key] = total
            if total > limit:
                raise AliasBomb(total)
            continue
        sizes[key] = 0  # on the stack: a recursive alias counts as one node, not infinity
        stack.append((current, True))
        stack.extend((k, False) for k in kids if id(k) not in sizes)
    return sizes[id(node)]


class BoundedSafeLoader(_SafeBase):  # type: ignore[misc]
    """The safe loader, refusing documents whose aliases expand past :data:`MAX_EXPANDED_NODES`.

    Aliases are shared, not copied, when a document is constructed, so the bomb goes off later:
    in validation or in a message that renders the value. Counting the expanded size before
    construction refuses it while it is still a few hundred nodes.
    """

    def construct_document(self, node: yaml.Node) -> Any:
        expanded_size(node)
        return super().construct_document(node)

