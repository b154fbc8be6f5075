// A YAML emitter that writes block-style documents byte for byte as go-yaml
// v4 does with its v3 defaults (indent 4, non-compact sequences, unlimited
// line width, unicode allowed). It follows libyaml's column/indent bookkeeping
// because the exact bytes depend on it: where line breaks fall, how far
// literal blocks are indented, when a key must be written as `? key`.

export type OutStyle = 'plain' | 'single' | 'double' | 'literal';

export type OutNode =
  | { kind: 'scalar'; value: string; style: OutStyle }
  | { kind: 'seq'; items: OutNode[] }
  | { kind: 'map'; pairs: Array<[OutNode, OutNode]> };

const BEST_INDENT = 4;
const MAX_SIMPLE_KEY_BYTES = 128;

/** Where a node sits; it decides indentation and which scalar styles are allowed. */
type Context = 'root' | 'seqItem' | 'mapValue' | 'simpleKey' | 'complexKey';

interface Analysis {
  multiline: boolean;
  blockPlainAllowed: boolean;
  singleQuotedAllowed: boolean;
  blockAllowed: boolean;
}

const isLineBreak = (c: string | undefined): boolean =>
  c === '\r' || c === '\n' || c === '\u0085' || c === '\u2028' || c === '\u2029';

/** libyaml's is_printable, per code point (astral characters are not printable there). */
function isPrintable(c: string): boolean {
  const cp = c.codePointAt(0)!;
  return (
    cp === 0x0a ||
    (cp >= 0x20 && cp <= 0x7e) ||
    (cp >= 0xa0 && cp <= 0xd7ff) ||
    (cp >= 0xe000 && cp <= 0xfffd && cp !== 0xfeff)
  );
}

/** libyaml's analyze_scalar, reduced to what block context needs. */
function analyze(value: string): Analysis {
  if (value.length === 0) {
    return { multiline: false, blockPlainAllowed: true, singleQuotedAllowed: true, blockAllowed: false };
  }
  const chars = Array.from(value);
  let blockIndicators = value.startsWith('---') || value.startsWith('...');
  let lineBreaks = false;
  let special = false;
  let tabs = false;
  let leadingSpace = false;
  let leadingBreak = false;
  let trailingSpace = false;
  let trailingBreak = false;
  let breakSpace = false;
  let spaceBreak = false;
  let precededByWhitespace = true;
  let previousSpace = false;
  let previousBreak = false;

  chars.forEach((c, i) => {
    const next = chars[i + 1];
    const followedByWhitespace = next === undefined || next === ' ' || next === '\t';
    if (i === 0) {
      if ('#,[]{}&*!|>\'"%@`'.includes(c)) blockIndicators = true;
      else if ((c === '?' || c === ':' || c === '-') && followedByWhitespace) blockIndicators = true;
    } else if ((c === ':' && followedByWhitespace) || (c === '#' && precededByWhitespace)) {
      blockIndicators = true;
    }
    if (c === '\t') tabs = true;
    else if (!isPrintable(c)) special = true;
    const last = i === chars.length - 1;
    if (c === ' ') {
      if (i === 0) leadingSpace = true;
      if (last) trailingSpace = true;
      if (previousBreak) breakSpace = true;
      previousSpace = true;
      previousBreak = false;
    } else if (isLineBreak(c)) {
      lineBreaks = true;
      if (i === 0) leadingBreak = true;
      if (last) trailingBreak = true;
      if (previousSpace) spaceBreak = true;
      previousSpace = false;
      previousBreak = true;
    } else {
      previousSpace = false;
      previousBreak = false;
    }
    precededByWhitespace = c === ' ' || c === '\t' || isLineBreak(c);
  });

  let blockPlainAllowed = true;
  let singleQuotedAllowed = true;
  let blockAllowed = true;
  if (leadingSpace || leadingBreak || trailingSpace || trailingBreak) blockPlainAllowed = false;
  if (trailingSpace) blockAllowed = false;
  if (breakSpace || spaceBreak || tabs || special) {
    blockPlainAllowed = false;
    singleQuotedAllowed = false;
  }
  if (spaceBreak || special) blockAllowed = false;
  if (lineBreaks || blockIndicators) blockPlainAllowed = false;
  return { multiline: lineBreaks, blockPlainAllowed, singleQuotedAllowed, blockAllowed };
}

const ESCAPES: Record<number, string> = {
  0x00: '0',
  0x07: 'a',
  0x08: 'b',
  0x09: 't',
  0x0a: 'n',
  0x0b: 'v',
  0x0c: 'f',
  0x0d: 'r',
  0x1b: 'e',
  0x22: '"',
  0x5c: '\\',
  0x85: 'N',
  0xa0: '_',
  0x2028: 'L',
  0x2029: 'P',
};

function escape(cp: number): string {
  const named = ESCAPES[cp];
  if (named) return `\\${named}`;
  const hex = cp.toString(16).toUpperCase();
  if (cp <= 0xff) return `\\x${hex.padStart(2, '0')}`;
  if (cp <= 0xffff) return `\\u${hex.padStart(4, '0')}`;
  return `\\U${hex.padStart(8, '0')}`;
}

class Writer {
  private readonly parts: string[] = [];
  private column = 0;
  private indent = -1;
  private readonly indents: number[] = [];
  private whitespace = true;
  private indention = true;

  text(): string {
    return this.parts.join('');
  }

  document(root: OutNode): void {
    this.node(root, 'root');
    this.writeIndent();
  }

  private put(s: string): void {
    this.parts.push(s);
    this.column += Array.from(s).length;
  }

  private putLineBreak(): void {
    this.parts.push('\n');
    this.column = 0;
    this.indention = true;
  }

  /** A line-break character other than LF is copied as is but still ends the line. */
  private writeLineBreak(c: string): void {
    if (c === '\n') {
      this.putLineBreak();
      return;
    }
    this.parts.push(c);
    this.column = 0;
    this.indention = true;
  }

  private writeIndent(): void {
    const indent = Math.max(this.indent, 0);
    if (!this.indention || this.column > indent || (this.column === indent && !this.whitespace)) {
      this.putLineBreak();
    }
    while (this.column < indent) this.put(' ');
    this.whitespace = true;
  }

  private writeIndicator(indicator: string, needWhitespace: boolean, isWhitespace: boolean, isIndention: boolean): void {
    if (needWhitespace && !this.whitespace) this.put(' ');
    this.put(indicator);
    this.whitespace = isWhitespace;
    this.indention = this.indention && isIndention;
  }

  private increaseIndent(flow: boolean, ctx: Context): void {
    this.indents.push(this.indent);
    if (this.indent < 0) this.indent = flow ? BEST_INDENT : 0;
    else if (ctx === 'seqItem') this.indent += 2;
    else this.indent = BEST_INDENT * Math.floor((this.indent + BEST_INDENT) / BEST_INDENT);
  }

  private popIndent(): void {
    this.indent = this.indents.pop() ?? -1;
  }

  private node(n: OutNode, ctx: Context): void {
    if (n.kind === 'scalar') this.scalar(n.value, n.style, ctx);
    else if (n.kind === 'seq') this.sequence(n.items, ctx);
    else this.mapping(n.pairs, ctx);
  }

  /** Empty collections are written in flow style: `{}` and `[]`. */
  private emptyFlow(open: string, close: string): void {
    this.writeIndicator(open, true, true, false);
    this.writeIndicator(close, false, false, false);
  }

  private sequence(items: OutNode[], ctx: Context): void {
    if (items.length === 0) {
      this.emptyFlow('[', ']');
      return;
    }
    this.increaseIndent(false, ctx);
    for (const item of items) {
      this.writeIndent();
      this.writeIndicator('-', true, false, true);
      this.node(item, 'seqItem');
    }
    this.popIndent();
  }

  private mapping(pairs: Array<[OutNode, OutNode]>, ctx: Context): void {
    if (pairs.length === 0) {
      this.emptyFlow('{', '}');
      return;
    }
    this.increaseIndent(false, ctx);
    for (const [key, value] of pairs) {
      this.writeIndent();
      if (isSimpleKey(key)) {
        this.node(key, 'simpleKey');
        this.writeIndicator(':', false, false, false);
      } else {
        this.writeIndicator('?', true, false, true);
        this.node(key, 'complexKey');
        this.writeIndent();
        this.writeIndicator(':', true, false, true);
      }
      this.node(value, 'mapValue');
    }
    this.popIndent();
  }

  private scalar(value: string, requested: OutStyle, ctx: Context): void {
    const a = analyze(value);
    const simpleKey = ctx === 'simpleKey';
    let style = requested;
    if (simpleKey && a.multiline) style = 'double';
    if (style === 'plain' && (!a.blockPlainAllowed || (value.length === 0 && simpleKey))) style = 'single';
    if (style === 'single' && !a.singleQuotedAllowed) style = 'double';
    if (style === 'literal' && (!a.blockAllowed || simpleKey)) style = 'double';

    this.increaseIndent(true, ctx);
    switch (style) {
      case 'plain':
        this.writePlain(value);
        break;
      case 'single':
        this.writeSingleQuoted(value);
        break;
      case 'double':
        this.writeDoubleQuoted(value);
        break;
      case 'literal':
        this.writeLiteral(value);
        break;
    }
    this.popIndent();
  }

  private writePlain(value: string): void {
    if (value.length > 0 && !this.whitespace) this.put(' ');
    // Plain scalars never hold line breaks here (analysis forbids it), and the
    // unlimited width means spaces are never folded.
    this.put(value);
    if (value.length > 0) this.whitespace = false;
    this.indention = false;
  }

  private writeSingleQuoted(value: string): void {
    this.writeIndicator("'", true, false, false);
    let breaks = false;
    for (const c of value) {
      if (isLineBreak(c)) {
        if (!breaks && c === '\n') this.putLineBreak();
        this.writeLineBreak(c);
        breaks = true;
      } else {
        if (breaks) this.writeIndent();
        this.put(c === "'" ? "''" : c);
        this.indention = false;
        breaks = false;
      }
    }
    this.writeIndicator("'", false, false, false);
    this.whitespace = false;
    this.indention = false;
  }

  private writeDoubleQuoted(value: string): void {
    this.writeIndicator('"', true, false, false);
    // libyaml tests for a BOM at the start of the value, not at the current
    // character: a value that starts with one gets every character escaped.
    const escapeAll = value.startsWith('\uFEFF');
    for (const c of value) {
      const cp = c.codePointAt(0)!;
      if (escapeAll || !isPrintable(c) || isLineBreak(c) || c === '"' || c === '\\') this.put(escape(cp));
      else this.put(c);
    }
    this.writeIndicator('"', false, false, false);
    this.whitespace = false;
    this.indention = false;
  }

  private writeLiteral(value: string): void {
    this.writeIndicator('|', true, false, false);
    if (value.startsWith(' ')) this.writeIndicator(String(BEST_INDENT), false, false, false);
    const chars = Array.from(value);
    const last = chars[chars.length - 1];
    let chomp = '';
    if (!isLineBreak(last)) chomp = '-';
    else if (chars.length === 1 || isLineBreak(chars[chars.length - 2])) chomp = '+';
    if (chomp) this.writeIndicator(chomp, false, false, false);
    this.putLineBreak();
    this.whitespace = true;
    let breaks = true;
    for (const c of chars) {
      if (isLineBreak(c)) {
        this.writeLineBreak(c);
        breaks = true;
      } else {
        if (breaks) this.writeIndent();
        this.put(c);
        this.indention = false;
        breaks = false;
      }
    }
  }
}

/** libyaml's check_simple_key: short, single-line scalars and empty collections. */
function isSimpleKey(key: OutNode): boolean {
  if (key.kind === 'scalar') {
    return !analyze(key.value).multiline && Buffer.byteLength(key.value, 'utf8') <= MAX_SIMPLE_KEY_BYTES;
  }
  return key.kind === 'seq' ? key.items.length === 0 : key.pairs.length === 0;
}

/** Writes one document (no `---`, no `...`), ending with a newline. */
export function emitDocument(root: OutNode): string {
  const w = new Writer();
  w.document(root);
  return w.text();
}
