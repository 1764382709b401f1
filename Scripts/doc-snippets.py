#!/usr/bin/env python3
"""Every ```swift block of README.md and Docs/ compiles as pasted.

The blocks of one page, in order, are one program: this script copies them into
Tests/DocSnippets/<Page>/main.swift, which `swift build` compiles as an executable target of
its own (Package.swift lists them; they are never run). A later block may use what an earlier
one declared, as a reader follows an article from the top; no two blocks may declare the
same name. A block that is a package manifest (it starts with `// swift-tools-version`) is
read by SwiftPM instead (`swift package dump-package`).

    python3 Scripts/doc-snippets.py          # rewrite the copies after editing a page
    python3 Scripts/doc-snippets.py --check  # CI: fail when a copy is stale, or a manifest unreadable

A script, not a test, so that a page whose old copy no longer compiles can still be copied anew.
"""
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Each page with Swift code blocks, and the target its program is compiled in (Package.swift's
# `documentedPages` lists the same targets).
PAGES = {
    "README.md": "README",
    "Docs/Guides/SendingEvents.md": "SendingEvents",
    "Docs/Guides/FunctionsAndSteps.md": "FunctionsAndSteps",
    "Docs/Guides/SleepsWaitsInvokeAndCancellation.md": "SleepsWaitsInvokeAndCancellation",
    "Docs/Guides/EventAPIAndCLI.md": "EventAPIAndCLI",
    "Docs/Guides/RunningOnPostgreSQL.md": "RunningOnPostgreSQL",
    "Docs/Guides/FlowControl.md": "FlowControl",
    "Docs/Guides/Dashboard.md": "Dashboard",
    "Docs/Guides/Operations.md": "Operations",
}


def blocks(markdown):
    """The ```swift blocks of a page, each with the line its code starts on."""
    found, current, start = [], None, 0
    for number, line in enumerate(markdown.split("\n"), start=1):
        stripped = line.strip()
        if current is not None:
            if stripped == "```":
                found.append((start, "\n".join(current)))
                current = None
            else:
                current.append(line)
        elif stripped == "```swift":
            current, start = [], number + 1
    if current is not None:
        sys.exit(f"a ```swift block opened on line {start - 1} is never closed")
    return found


def is_manifest(code):
    return code.startswith("// swift-tools-version")


def program(page, page_blocks):
    text = (f"// Generated from {page} by Scripts/doc-snippets.py: edit the page, then run\n"
            "// python3 Scripts/doc-snippets.py\n")
    for line, code in page_blocks:
        if not is_manifest(code):
            text += f"\n// {page}:{line}\n{code}\n"
    return text


def manifest_problem(code):
    with tempfile.TemporaryDirectory(prefix="stepwise-manifest-") as directory:
        with open(os.path.join(directory, "Package.swift"), "w") as manifest:
            manifest.write(code)
        result = subprocess.run(["swift", "package", "--package-path", directory, "dump-package"],
                                capture_output=True, text=True)
        return None if result.returncode == 0 else result.stderr.strip()


def main():
    check = "--check" in sys.argv[1:]
    problems = []
    for root, _, files in os.walk(os.path.join(ROOT, "Docs")):
        for name in files:
            page = os.path.relpath(os.path.join(root, name), ROOT)
            if name.endswith(".md") and page not in PAGES and "```swift" in open(os.path.join(root, name)).read():
                problems.append(f"{page} has Swift code blocks but no target in Scripts/doc-snippets.py's PAGES")
    for page, target in PAGES.items():
        with open(os.path.join(ROOT, page)) as source:
            page_blocks = blocks(source.read())
        expected = program(page, page_blocks)
        path = os.path.join(ROOT, "Tests", "DocSnippets", target, "main.swift")
        current = open(path).read() if os.path.exists(path) else None
        if current != expected:
            if check:
                problems.append(f"{os.path.relpath(path, ROOT)} is not {page}'s code: run python3 Scripts/doc-snippets.py")
            else:
                os.makedirs(os.path.dirname(path), exist_ok=True)
                with open(path, "w") as out:
                    out.write(expected)
                print(f"wrote {os.path.relpath(path, ROOT)}")
        for line, code in page_blocks:
            if is_manifest(code):
                problem = manifest_problem(code)
                if problem:
                    problems.append(f"{page}:{line}: SwiftPM cannot read this manifest: {problem}")
    for problem in problems:
        print(problem, file=sys.stderr)
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
