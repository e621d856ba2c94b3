// CSV reading and writing, and the rule by which a ranked CSV from the page (or the npm package)
// counts as equal to `leadladder rank`'s: shared by the browser test scripts.

/** Score tolerance between the page's and native scores. */
export const TOL = 1e-3;

/** RFC 4180 CSV reader (quoted cells with delimiters, quotes and newlines); stops after
 * `maxRows` rows when given. */
export function parseCsv(text, maxRows = Infinity) {
  const rows = [];
  let row = [];
  let cell = '';
  let quoted = false;
  let kept = 0;
  text = text.replace(/^\uFEFF/, '');
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        cell += '"';
        i++;
      } else if (c === '"') quoted = false;
      else cell += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') {
      row.push(cell);
      cell = '';
    } else if (c === '\n' || c === '\r') {
      if (c === '\r' && text[i + 1] === '\n') i++;
      row.push(cell);
      rows.push(row);
      if (!(row.length === 1 && row[0] === '')) kept += 1;
      row = [];
      cell = '';
      if (kept >= maxRows) break;
    } else cell += c;
  }
  if (cell !== '' || row.length) {
    row.push(cell);
    rows.push(row);
  }
  return rows.filter((r) => !(r.length === 1 && r[0] === ''));
}

export function writeCsv(rows) {
  const q = (s) => (/[",\r\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s);
  return `${rows.map((r) => r.map(q).join(',')).join('\r\n')}\r\n`;
}

export const isNum = (s) => s !== '' && /^-?\d+(\.\d+)?([eE][-+]?\d+)?$/.test(s);

/**
 * Compares two ranked CSVs: same header, same lead order (two leads may swap only when their
 * native scores are within TOL), numeric cells within TOL, other cells equal.
 */
export function compareRankedCsv(webText, nativeText) {
  const web = parseCsv(webText);
  const nat = parseCsv(nativeText);
  const problems = [];
  if (JSON.stringify(web[0]) !== JSON.stringify(nat[0])) {
    problems.push(`headers differ:\n  web:    ${web[0].join(',')}\n  native: ${nat[0].join(',')}`);
    return problems;
  }
  if (web.length !== nat.length) problems.push(`row counts differ: web ${web.length - 1}, native ${nat.length - 1}`);
  const header = nat[0];
  const col = (name) => header.indexOf(name);
  const idCol = col(header.includes('lead_id') ? 'lead_id' : header[0]);
  const scoreCol = col('score');
  const natById = new Map(nat.slice(1).map((r) => [r[idCol], r]));
  for (let i = 1; i < Math.min(web.length, nat.length); i++) {
    const w = web[i];
    const n = nat[i];
    if (w[idCol] !== n[idCol]) {
      const ws = Number(natById.get(w[idCol])?.[scoreCol]);
      const ns = Number(n[scoreCol]);
      if (!(Math.abs(ws - ns) <= TOL)) problems.push(`row ${i}: web has lead ${w[idCol]}, native ${n[idCol]} (scores ${ws} vs ${ns})`);
    }
    const ref = natById.get(w[idCol]);
    if (!ref) {
      problems.push(`row ${i}: lead ${w[idCol]} is not in the native output`);
      continue;
    }
    for (let c = 0; c < header.length; c++) {
      const a = w[c];
      const b = ref[c];
      if (a === b) continue;
      // A near-tie may swap two neighbours (checked against the tolerance above); their rank
      // then differs by one, and the grade only where that moves the lead across a grade cut.
      const rankCol = col('rank');
      const swapped = w[rankCol] !== ref[rankCol] && Math.abs(Number(w[rankCol]) - Number(ref[rankCol])) <= 1;
      if ((header[c] === 'rank' || header[c] === 'grade') && swapped) continue;
      if (isNum(a) && isNum(b) && Math.abs(Number(a) - Number(b)) <= TOL) continue;
      if (header[c] === 'reasons' && sameReasons(a, b)) continue;
      problems.push(`lead ${w[idCol]}, column ${header[c]}: web ${JSON.stringify(a)} vs native ${JSON.stringify(b)}`);
      if (problems.length > 20) return problems;
    }
  }
  return problems;
}

/**
 * Two `reasons` cells agree when they name the same factors in the same order and each delta
 * (printed with two decimals) is within 0.011: the page and native may round a last digit apart.
 */
export function sameReasons(a, b) {
  const parse = (s) => [...s.matchAll(/(.*?) \(([+-]\d+\.\d+)\)(?:; |$)/gs)].map((m) => ({ name: m[1], delta: Number(m[2]) }));
  if (!a || !b) return false;
  const x = parse(a);
  const y = parse(b);
  return x.length === y.length && x.every((f, i) => f.name === y[i].name && Math.abs(f.delta - y[i].delta) <= 0.011);
}
