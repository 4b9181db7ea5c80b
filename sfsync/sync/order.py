"""Which syncs run before which: parents before the children whose lookups name them.

A sync is a *parent* of another when it writes an object that the other's lookups point to (its
``Account.External_Id__c`` lookup names Accounts, so a sync writing Account goes first). Record types and
owners are not parents (sfsync resolves them from what the org already has), and a sync that looks up its
own object (``ReportsTo.Email`` on Contact) is not its own parent.

These are pure functions over the project and describe data: ``sfsync run A B``, ``run --all`` and the
scheduler order their syncs with :func:`order_syncs`; ``sfsync check`` reports a cycle with
:func:`find_cycle`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sfsync.config import LookupTarget, Sync
from sfsync.errors import ConfigError


def known_parents(sync: Sync, objects: set[str]) -> set[str] | None:
    """The parents of ``sync`` without describe, or None when describe is needed.

    A lookup that names its object (``User:Owner.Username``) is known; so is one whose relationship is
    named after one of ``objects`` (lower-case object names the other syncs write: ``Account`` in
    ``Account.External_Id__c``, ``AccountId`` in the long form), as Salesforce names standard
    relationships. Anything else (``Parent_Account__r``, ``ReportsTo``) needs the object's describe."""
    out: set[str] = set()
    for target in sync.mappings.values():
        if not isinstance(target, LookupTarget) or target.is_record_type:
            continue
        if target.object:
            out.add(target.object.lower())
            continue
        name = (target.relationship or (target.field or "").removesuffix("Id")).lower()
        if name not in objects:
            return None
        out.add(name)
    return out


def parent_objects(sync: Sync, describe: Mapping[str, Any] | None) -> set[str]:
    """The objects (lower-case API names) whose records ``sync``'s lookups name.

    ``describe`` is the sync object's describe JSON; without it, only lookups that name their object
    (``User:Owner.Username``) are known."""
    refs = {}
    for f in (describe or {}).get("fields", []):
        if f.get("type") == "reference":
            refs[str(f["name"]).lower()] = f
            if f.get("relationshipName"):
                refs[str(f["relationshipName"]).lower()] = f
    out: set[str] = set()
    for target in sync.mappings.values():
        if not isinstance(target, LookupTarget) or target.is_record_type:
            continue
        if target.object:
            out.add(target.object.lower())
            continue
        f = refs.get((target.relationship or target.field or "").lower())
        if f is not None:
            out.update(str(t).lower() for t in f.get("referenceTo") or ())
    return out


def sync_parents(
    syncs: Mapping[str, Sync], names: Sequence[str], describe: Callable[[Sync], Mapping[str, Any] | None]
) -> dict[str, set[str]]:
    """The objects each of ``names``' lookups name. Known from the project file when the lookups name
    their object or a relationship named after an object another sync writes; otherwise from the object's
    ``describe`` (None when it cannot be read: the run itself will say what is wrong). A lone sync has no
    order to keep, so nothing is described for it."""
    if len(names) < 2:
        return {name: set() for name in names}
    objects = {syncs[n].object.lower() for n in names}
    out: dict[str, set[str]] = {}
    for name in names:
        sync = syncs[name]
        known = known_parents(sync, objects)
        out[name] = known if known is not None else parent_objects(sync, describe(sync))
    return out


def dependencies(
    syncs: Mapping[str, Sync], parents: Mapping[str, set[str]], names: Sequence[str]
) -> dict[str, list[str]]:
    """For each of ``names``: the other named syncs that write an object it looks up (its parents)."""
    writes = {n: syncs[n].object.lower() for n in names}
    return {
        n: [p for p in names if p != n and writes[p] in parents.get(n, set()) and writes[p] != writes[n]]
        for n in names
    }


def find_cycle(deps: Mapping[str, Sequence[str]]) -> list[str] | None:
    """A cycle of syncs, each looking up the next (the last looks up the first), starting with the name
    that sorts first; None when there is none."""
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    path: list[str] = []

    def visit(n: str) -> list[str] | None:
        state[n] = 1
        path.append(n)
        for p in deps.get(n, ()):
            if state.get(p) == 1:
                return path[path.index(p) :]
            if p not in state:
                found = visit(p)
                if found:
                    return found
        path.pop()
        state[n] = 2
        return None

    for n in deps:
        if n not in state:
            found = visit(n)
            if found:
                start = found.index(min(found))
                return found[start:] + found[:start]
    return None


def cycle_error(cycle: Sequence[str], syncs: Mapping[str, Sync]) -> ConfigError:
    chain = " → ".join(f"{n} ({syncs[n].object})" for n in [*cycle, cycle[0]])
    return ConfigError(
        f"syncs {', '.join(repr(n) for n in cycle)} look each other up in a cycle ({chain}, each looking "
        "up the next): no order writes every parent before its children",
        hint="remove one lookup of the cycle (or set that reference with a second sync in update mode "
        "that runs after both)",
    )


def order_syncs(
    syncs: Mapping[str, Sync], parents: Mapping[str, set[str]], names: Sequence[str]
) -> list[str]:
    """``names`` with every parent before its children, otherwise in the order given.

    ``parents``: sync name → the objects its lookups name (:func:`parent_objects`). Raises ConfigError
    naming the syncs of a cycle."""
    names = list(dict.fromkeys(names))
    deps = dependencies(syncs, parents, names)
    cycle = find_cycle(deps)
    if cycle:
        raise cycle_error(cycle, syncs)
    done: list[str] = []
    placed: set[str] = set()
    while len(done) < len(names):
        for n in names:  # the first in the given order whose parents are all placed
            if n not in placed and all(p in placed for p in deps[n]):
                done.append(n)
                placed.add(n)
                break
    return done


def groups(
    syncs: Mapping[str, Sync], parents: Mapping[str, set[str]], names: Sequence[str]
) -> list[list[str]]:
    """``names`` split into independent groups (no lookup between groups), each in run order: the
    scheduler runs a group's syncs one after the other and different groups at once."""
    ordered = order_syncs(syncs, parents, names)
    deps = dependencies(syncs, parents, ordered)
    group_of: dict[str, int] = {n: i for i, n in enumerate(ordered)}

    def root(n: str) -> str:
        while ordered[group_of[n]] != n:
            n = ordered[group_of[n]]
        return n

    for n in ordered:
        for p in deps[n]:
            a, b = root(n), root(p)
            if a != b:
                group_of[a] = group_of[b]
    out: dict[str, list[str]] = {}
    for n in ordered:
        out.setdefault(root(n), []).append(n)
    return list(out.values())


__all__ = [
    "cycle_error",
    "dependencies",
    "find_cycle",
    "groups",
    "known_parents",
    "order_syncs",
    "parent_objects",
    "sync_parents",
]
