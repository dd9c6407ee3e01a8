// Generic traversal of Binaryen IR: which fields of each expression kind hold child expressions,
// and how to replace one. Unknown kinds are rejected, never skipped, because a child we fail to
// visit could hide a loop that would then run unmetered.

import { FerryError } from "../errors.js";
import type { Binaryen, ExpressionRef } from "./binaryen.js";

interface ChildField {
  field: string;
  /** Array fields are set element-wise with this setter; scalar fields with set<Field>. */
  arraySetter?: "setChildAt" | "setOperandAt";
}

interface KindSpec {
  cls: string;
  fields: ChildField[];
}

const s = (field: string): ChildField => ({ field });
const children: ChildField = { field: "children", arraySetter: "setChildAt" };
const operands: ChildField = { field: "operands", arraySetter: "setOperandAt" };

/** Expression kinds by class name. Leaves (no child expressions) have an empty list. */
const KINDS: Record<string, ChildField[]> = {
  Block: [children],
  If: [s("condition"), s("ifTrue"), s("ifFalse")],
  Loop: [s("body")],
  Break: [s("value"), s("condition")],
  Switch: [s("value"), s("condition")],
  Call: [operands],
  CallIndirect: [operands, s("target")],
  LocalGet: [],
  LocalSet: [s("value")],
  GlobalGet: [],
  GlobalSet: [s("value")],
  Load: [s("ptr")],
  Store: [s("ptr"), s("value")],
  Const: [],
  Unary: [s("value")],
  Binary: [s("left"), s("right")],
  Select: [s("ifTrue"), s("ifFalse"), s("condition")],
  Drop: [s("value")],
  Return: [s("value")],
  MemorySize: [],
  MemoryGrow: [s("delta")],
  Nop: [],
  Unreachable: [],
  AtomicFence: [],
  SIMDExtract: [s("vec")],
  SIMDReplace: [s("vec"), s("value")],
  SIMDShuffle: [s("left"), s("right")],
  SIMDTernary: [s("a"), s("b"), s("c")],
  SIMDShift: [s("vec"), s("shift")],
  SIMDLoad: [s("ptr")],
  SIMDLoadStoreLane: [s("ptr"), s("vec")],
  MemoryInit: [s("dest"), s("offset"), s("size")],
  DataDrop: [],
  MemoryCopy: [s("dest"), s("source"), s("size")],
  MemoryFill: [s("dest"), s("value"), s("size")],
  RefNull: [],
  RefIsNull: [s("value")],
  RefFunc: [],
  RefEq: [s("left"), s("right")],
  RefAs: [s("value")],
  TableGet: [s("index")],
  TableSet: [s("index"), s("value")],
  TableSize: [],
  TableGrow: [s("value"), s("delta")],
  TupleMake: [operands],
  TupleExtract: [s("tuple")],
};

/**
 * Kinds binaryen.js knows only through its C API (no `<Kind>Id` constant, no getters): the function
 * giving the id, the text-format name for messages, and the child fields where the kind is walked.
 * elem.drop has no children. table.init, table.copy and table.fill have three, which binaryen.js
 * cannot reach; they are walked as leaves because they only ever appear in the helper functions
 * table-ops.ts writes, whose operands are `local.get`s of the parameters (every instruction of the
 * guest's own became a call to such a helper before Binaryen read the module).
 */
const C_API_KINDS: Array<{ idFn: string; name: string; fields?: ChildField[] }> = [
  { idFn: "_BinaryenElemDropId", name: "elem.drop", fields: [] },
  { idFn: "_BinaryenTableInitId", name: "table.init", fields: [] },
  { idFn: "_BinaryenTableCopyId", name: "table.copy", fields: [] },
  { idFn: "_BinaryenTableFillId", name: "table.fill", fields: [] },
];

export class IrWalker {
  private readonly specs = new Map<number, KindSpec>();
  private readonly cApiNames = new Map<number, string>();

  constructor(private readonly b: Binaryen) {
    for (const [cls, fields] of Object.entries(KINDS)) {
      const id = (b as unknown as Record<string, number>)[`${cls}Id`];
      if (typeof id === "number") this.specs.set(id, { cls, fields });
    }
    for (const kind of C_API_KINDS) {
      const idFn = (b as unknown as Record<string, (() => number) | undefined>)[kind.idFn];
      if (typeof idFn !== "function") continue;
      const id = idFn();
      this.cApiNames.set(id, kind.name);
      if (kind.fields) this.specs.set(id, { cls: kind.name, fields: kind.fields });
    }
  }

  kindName(expr: ExpressionRef): string {
    const spec = this.specs.get(this.b.getExpressionId(expr));
    return spec?.cls ?? `expression id ${this.b.getExpressionId(expr)}`;
  }

  /**
   * Visit every child of `expr` with `visit`, replacing a child when `visit` returns a different
   * reference. Null children (an `if` without `else`, a `br` without value) are skipped.
   */
  mapChildren(expr: ExpressionRef, visit: (child: ExpressionRef) => ExpressionRef): void {
    const id = this.b.getExpressionId(expr);
    const spec = this.specs.get(id);
    if (!spec) {
      throw new FerryError("unsupported_feature", `instruction kind ${this.describeId(id)} cannot be metered`);
    }
    if (spec.fields.length === 0) return;
    const info = this.b.getExpressionInfo(expr) as unknown as Record<string, unknown>;
    const api = (this.b as unknown as Record<string, Record<string, (...a: unknown[]) => void>>)[spec.cls]!;
    for (const f of spec.fields) {
      const value = info[f.field];
      if (f.arraySetter) {
        const list = value as ExpressionRef[];
        for (let i = 0; i < list.length; i++) {
          const next = visit(list[i]!);
          if (next !== list[i]) api[f.arraySetter]!(expr, i, next);
        }
      } else {
        const child = value as ExpressionRef;
        if (!child) continue;
        const next = visit(child);
        if (next !== child) api[`set${f.field[0]!.toUpperCase()}${f.field.slice(1)}`]!(expr, next);
      }
    }
  }

  private describeId(id: number): string {
    const name = this.cApiNames.get(id);
    if (name) return name;
    for (const [key, value] of Object.entries(this.b as unknown as Record<string, unknown>)) {
      if (value === id && key.endsWith("Id") && !key.startsWith("_")) return key.slice(0, -2);
    }
    return String(id);
  }
}
