#!/usr/bin/env python3
"""Fails when a dependency that users build declares a newer `rust-version` than this crate.

Reads `cargo metadata` (all features, the lock file as it is) on stdin and walks the resolved
graph from this crate through normal and build dependencies on every platform; dev-dependencies
are skipped, since users never build them. A dependency without `rust-version` says nothing and
is not counted. Clippy's `incompatible_msrv` lint (denied with the other warnings in .ci/run)
checks the crate's own use of the standard library against the same number.
"""
import json
import sys


def version_tuple(text):
    parts = [int(part) for part in text.split(".")]
    return tuple(parts + [0] * (3 - len(parts)))


def main():
    meta = json.load(sys.stdin)
    packages = {p["id"]: p for p in meta["packages"]}
    root_id = meta["resolve"]["root"]
    root = packages[root_id]
    msrv = root.get("rust_version")
    if not msrv:
        sys.exit(f"{root['name']} declares no rust-version in Cargo.toml")
    nodes = {n["id"]: n for n in meta["resolve"]["nodes"]}
    seen, stack, too_new = set(), [root_id], []
    while stack:
        node = nodes[stack.pop()]
        for dep in node["deps"]:
            kinds = {k["kind"] for k in dep["dep_kinds"]}
            if kinds <= {"dev"} or dep["pkg"] in seen:
                continue
            seen.add(dep["pkg"])
            stack.append(dep["pkg"])
            package = packages[dep["pkg"]]
            needs = package.get("rust_version")
            if needs and version_tuple(needs) > version_tuple(msrv):
                too_new.append(f"{package['name']} {package['version']} needs Rust {needs}")
    if too_new:
        print(f"{root['name']} says rust-version = {msrv}, but the lock file resolves:")
        print("\n".join(f"  {line}" for line in sorted(too_new)))
        sys.exit(1)
    print(f"rust-version {msrv}: none of the {len(seen)} dependencies users build asks for more")


main()
