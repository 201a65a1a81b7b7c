"""Write (or check) the JSON Schemas of the contract into `contract/schemas/`.

uv run python -m flipkart_contract            # regenerate
uv run python -m flipkart_contract --check    # exit 1 if a committed schema is stale
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from flipkart_contract.schema import SCHEMAS

SCHEMAS_DIR = Path(__file__).resolve().parents[2] / "schemas"


def render(file_name: str) -> str:
    schema = SCHEMAS[file_name].model_json_schema(mode="serialization")
    schema = {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}
    return json.dumps(schema, indent=2, ensure_ascii=False, sort_keys=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if a schema file is stale")
    parser.add_argument("--out", type=Path, default=SCHEMAS_DIR)
    args = parser.parse_args(argv)
    stale = []
    for name in SCHEMAS:
        text, target = render(name), args.out / name
        if args.check:
            if not target.is_file() or target.read_text(encoding="utf-8") != text:
                stale.append(name)
        else:
            args.out.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
            print(f"wrote {target}")
    if stale:
        print(f"stale schemas (run python -m flipkart_contract): {', '.join(stale)}")
        return 1
    return 0
