/**
 * A user's own training data, parsed (pure: text in, arrays out): a text corpus for a character model, and a CSV
 * of numeric columns for next-step regression.
 */
import { RnnError } from '../errors.js';

/** A text corpus: its characters (code points) as ids into the sorted vocabulary. */
export interface TextData {
  kind: 'text';
  vocab: string[];
  codes: Int32Array;
}

/** A numeric series: T rows of C columns, standardised per column (x - mean) / std. */
export interface SeriesData {
  kind: 'series';
  columns: string[];
  /** (T, C) row-major, standardised. */
  values: Float64Array;
  rows: number;
  mean: number[];
  std: number[];
}

export type TrainingData = TextData | SeriesData;

/**
 * The characters of a text as ids. With `vocab` (a model's, when training goes on from it) every character must
 * be in it; otherwise the vocabulary is the text's sorted distinct characters.
 */
export function textData(text: string, vocab?: readonly string[]): TextData {
  const chars = [...text];
  if (chars.length < 3) {
    throw new RnnError('invalid_argument', `the text has ${chars.length} character(s); training needs at least 3`, {
      expected: '>= 3',
      got: chars.length,
    });
  }
  const v = vocab ? [...vocab] : [...new Set(chars)].sort();
  const index = new Map(v.map((c, i) => [c, i]));
  const codes = new Int32Array(chars.length);
  chars.forEach((c, i) => {
    const k = index.get(c);
    if (k === undefined) {
      throw new RnnError(
        'invalid_argument',
        `the text has ${JSON.stringify(c)} (character ${i}), which the model's vocabulary does not hold`,
        { got: c, hint: `the vocabulary is ${JSON.stringify(v.join('')).slice(0, 200)}` },
      );
    }
    codes[i] = k;
  });
  return { kind: 'text', vocab: v, codes };
}

/** Splits one CSV line on the delimiter, honouring double quotes. */
function splitLine(line: string, delimiter: string): string[] {
  const out: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i] as string;
    if (quoted) {
      if (c === '"' && line[i + 1] === '"') {
        field += '"';
        i++;
      } else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === delimiter) {
      out.push(field.trim());
      field = '';
    } else field += c;
  }
  out.push(field.trim());
  return out;
}

const isNumber = (s: string) => s !== '' && Number.isFinite(Number(s));

/**
 * A CSV's numeric columns, standardised. The first line is a header when any of its fields is not a number
 * (else the columns are named 0, 1, ...). Columns that are not numbers on every row (a date, a label) are left
 * out; a numeric column with an empty or non-numeric value on some row is an error naming the row.
 */
export function seriesData(csv: string): SeriesData {
  const lines = csv.split(/\r?\n/).filter((l) => l.trim() !== '');
  if (lines.length === 0) throw new RnnError('invalid_argument', 'the CSV is empty', { got: 0 });
  const first = lines[0] as string;
  const delimiter = first.includes(',') ? ',' : first.includes(';') ? ';' : first.includes('\t') ? '\t' : ',';
  const rows = lines.map((l) => splitLine(l, delimiter));
  const header = (rows[0] as string[]).some((f) => !isNumber(f)) ? (rows.shift() as string[]) : null;
  const width = header?.length ?? (rows[0]?.length as number);
  const names = header ?? Array.from({ length: width }, (_, i) => String(i));
  rows.forEach((r, i) => {
    if (r.length !== width) {
      throw new RnnError(
        'invalid_argument',
        `CSV line ${i + (header ? 2 : 1)} has ${r.length} fields, the ${header ? 'header' : 'first line'} ${width}`,
        { expected: width, got: r.length },
      );
    }
  });
  // A column is numeric when most of its values are numbers; then every value must be one.
  const numeric = names
    .map((_, j) => j)
    .filter((j) => rows.filter((r) => isNumber(r[j] as string)).length * 2 > rows.length);
  if (numeric.length === 0) {
    throw new RnnError('invalid_argument', `the CSV has no numeric column (columns: ${names.join(', ')})`, {
      got: names,
    });
  }
  for (const j of numeric) {
    rows.forEach((r, i) => {
      if (!isNumber(r[j] as string)) {
        throw new RnnError(
          'invalid_argument',
          `CSV line ${i + (header ? 2 : 1)}, column '${names[j]}': ${JSON.stringify(r[j])} is not a number`,
          { got: r[j] },
        );
      }
    });
  }
  if (rows.length < 3) {
    throw new RnnError('invalid_argument', `the CSV has ${rows.length} row(s) of numbers; training needs at least 3`, {
      expected: '>= 3',
      got: rows.length,
    });
  }
  const T = rows.length;
  const C = numeric.length;
  const values = new Float64Array(T * C);
  const mean: number[] = [];
  const std: number[] = [];
  numeric.forEach((j, c) => {
    let sum = 0;
    for (let t = 0; t < T; t++) sum += Number(rows[t]?.[j]);
    const m = sum / T;
    let sq = 0;
    for (let t = 0; t < T; t++) sq += (Number(rows[t]?.[j]) - m) ** 2;
    const s = Math.sqrt(sq / T) || 1; // a constant column stays as it is, centred
    mean.push(m);
    std.push(s);
    for (let t = 0; t < T; t++) values[t * C + c] = (Number(rows[t]?.[j]) - m) / s;
  });
  return { kind: 'series', columns: numeric.map((j) => names[j] as string), values, rows: T, mean, std };
}
