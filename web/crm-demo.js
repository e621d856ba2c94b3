// The fake CRM: loads a sample export, shows it, and hands it to <lead-ladder> on demand.

const status = document.getElementById('crm-status');
const button = document.getElementById('rank-leads');
const ladder = document.getElementById('ladder');
let csvText = null;

function firstRows(text, n) {
  // Enough of a CSV reader for a preview table (quoted cells with commas and newlines).
  const rows = [];
  let row = [];
  let cell = '';
  let quoted = false;
  for (let i = 0; i < text.length && rows.length <= n; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') { cell += '"'; i++; } else if (c === '"') quoted = false; else cell += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') { row.push(cell); cell = ''; }
    else if (c === '\n') { row.push(cell.replace(/\r$/, '')); rows.push(row); row = []; cell = ''; }
    else cell += c;
  }
  return rows;
}

async function loadLeads() {
  try {
    const resp = await fetch('samples/demo-leads.csv');
    if (!resp.ok) throw new Error(`HTTP ${resp.status}`);
    csvText = await resp.text();
    const [header, ...rows] = firstRows(csvText, 12);
    const at = (name) => header.indexOf(name);
    const tbody = document.querySelector('#crm-table tbody');
    for (const r of rows) {
      const tr = document.createElement('tr');
      for (const col of ['lead_id', 'channel', 'model_interest', 'calls_so_far']) {
        const td = document.createElement('td');
        td.textContent = r[at(col)] ?? '';
        tr.append(td);
      }
      tbody.append(tr);
    }
    status.textContent = 'Showing the first leads of today\'s export.';
    button.disabled = false;
  } catch (e) {
    status.textContent = `Could not load the leads: ${e.message}`;
  }
}

button.addEventListener('click', async () => {
  button.disabled = true;
  try {
    await ladder.rank(csvText);
  } catch (e) {
    status.textContent = `Ranking failed: ${e.message}`;
  } finally {
    button.disabled = false;
  }
});

ladder.addEventListener('ranked', (e) => {
  const top = e.detail.rows[0];
  status.textContent = `Ranked ${e.detail.rows.length} leads. Call ${top ? top.id : 'nobody'} first.`;
  document.body.dataset.ranked = String(e.detail.rows.length);
});

loadLeads();
