// Undo/redo of the event list: each edit stores the list before and after it.

export class History {
  constructor(limit = 500) { this.undoStack = []; this.redoStack = []; this.limit = limit; }
  clear() { this.undoStack = []; this.redoStack = []; }
  // meta: anything else the edit changed (the slider's value), restored with the list
  push(before, after, label, meta = null) {
    if (sameList(before, after) && !meta) return false;
    this.undoStack.push({ before: [...before], after: [...after], label, meta });
    if (this.undoStack.length > this.limit) this.undoStack.shift();
    this.redoStack = [];
    return true;
  }
  undo() { const e = this.undoStack.pop(); if (!e) return null; this.redoStack.push(e); return e; }
  redo() { const e = this.redoStack.pop(); if (!e) return null; this.undoStack.push(e); return e; }
  get canUndo() { return this.undoStack.length > 0; }
  get canRedo() { return this.redoStack.length > 0; }
}

export function sameList(a, b) { return a.length === b.length && a.every((v, i) => v === b[i]); }
