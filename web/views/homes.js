// A home, for its owner (and members): cameras (add push/pull, rename,
// delete), members and roles, guest sharing, and every grant in one place.
import { api, session, loadMe } from '../api.js';
import { h, clear, field, errorBox, showError, flash, fmtTime, confirmDialog, copyText } from '../ui.js';

const ROLES = { owner: 'Owner: everything, incl. members', member: 'Member: watch, add cameras, share', viewer: 'Viewer: watch only' };

export async function render(main, { params, query, go }) {
  await loadMe();
  const homes = session.homes;
  let homeId = params[0];
  if (!homeId) {
    const mine = homes.find(x => x.role === 'owner') || homes[0];
    if (mine && homes.length === 1) { location.replace(`#/homes/${mine.id}`); return null; }
  }
  const head = h('div', { class: 'page-head' }, h('h1', {}, 'Homes & sharing'));
  main.append(head);
  if (homes.length > 1 || !homeId) {
    const sel = h('select', { id: 'home-select' }, h('option', { value: '' }, 'Choose a home…'),
      homes.map(x => h('option', { value: x.id, selected: x.id === homeId }, `${x.name} (${x.role})`)));
    sel.addEventListener('change', () => sel.value && go(`#/homes/${sel.value}`));
    head.append(field('Home', sel));
  }
  main.append(createHomeForm(go, !homes.length || !homeId));
  if (!homeId) return null;
  const home = homes.find(x => x.id === homeId);
  if (!home) { main.append(h('p', { class: 'form-error', role: 'alert' }, "You don't have access to this home.")); return null; }
  const owner = home.role === 'owner' || session.user.admin;
  const manager = owner || home.role === 'member';
  head.querySelector('h1').textContent = home.name;
  head.append(h('p', { class: 'sub' }, `Your role: ${home.role}`));

  const { cameras: all } = await api('GET', 'cameras');
  const cams = all.filter(c => c.home === homeId);
  const byId = new Map(cams.map(c => [c.id, c]));

  // --- cameras
  const camList = h('ul', { id: 'home-cameras', class: 'rows' });
  const camSection = h('section', { class: 'card', 'aria-labelledby': 'h-cams' }, h('h2', { id: 'h-cams' }, 'Cameras'), camList);
  function camRow(c) {
    const name = h('input', { class: 'rename-input', value: c.name, 'aria-label': `New name for ${c.name}`, maxlength: 127 });
    const err = errorBox();
    const save = h('button', { type: 'submit', dataset: { action: 'rename' } }, 'Rename');
    const form = h('form', { class: 'inline' }, name, save);
    form.addEventListener('submit', async ev => {
      ev.preventDefault();
      try {
        await api('PATCH', `cameras/${c.id}`, { name: name.value.trim() });
        c.name = name.value.trim();
        link.textContent = c.name;
        name.setAttribute('aria-label', `New name for ${c.name}`);
        flash(`Renamed to ${c.name}.`, 'ok');
        showError(err, null);
      } catch (e) { showError(err, e.status === 404 || e.status === 405 ? { message: 'Renaming is not available on this server yet.' } : e); }
    });
    const del = h('button', { type: 'button', class: 'danger', dataset: { action: 'delete' } }, 'Delete');
    del.addEventListener('click', async () => {
      if (!await confirmDialog(`Delete camera “${c.name}”? Everyone watching it is disconnected and its shares end.`, 'Delete camera')) return;
      try { await api('DELETE', `cameras/${c.id}`); flash(`Deleted ${c.name}.`, 'ok'); go(location.hash); } catch (e) { showError(err, e); }
    });
    const link = h('a', { href: `#/camera/${c.id}`, class: 'camera-name' }, c.name);
    return h('li', { class: 'manage-camera', dataset: { cameraId: c.id } },
      h('div', { class: 'row-main' }, link,
        h('span', { class: 'muted' }, ` ${c.source === 'pull' ? 'pull' : 'push'}${c.model ? ' · ' + c.model : ''}${c.shared ? ` · shared with ${c.shared}` : ''}`)),
      manager ? h('div', { class: 'row-actions' }, form, owner ? del : null) : null, err);
  }
  for (const c of cams) camList.append(camRow(c));
  if (!cams.length) camList.append(h('li', { class: 'muted' }, 'No cameras in this home yet.'));
  main.append(camSection);
  if (manager) camSection.append(addCameraForm(homeId, go));

  // --- members
  if (manager) main.append(await membersSection(homeId, owner, go));

  // --- sharing with guests + every grant
  if (manager) main.append(await grantsSection(homeId, cams, byId, query.get('camera'), go));
  return null;
}

function createHomeForm(go, open) {
  const name = h('input', { id: 'home-name', required: true, maxlength: 127 });
  const err = errorBox('home-error');
  const form = h('form', { id: 'home-form', class: 'inline' }, field('Name of the new home', name), h('button', { type: 'submit' }, 'Create home'), err);
  form.addEventListener('submit', async ev => {
    ev.preventDefault();
    try { const x = await api('POST', 'homes', { name: name.value.trim() }); await loadMe(); go(`#/homes/${x.id}`); } catch (e) { showError(err, e); }
  });
  return h('details', { class: 'card', open }, h('summary', {}, 'Create a home'), form);
}

function addCameraForm(homeId, go) {
  const name = h('input', { id: 'add-name', required: true, maxlength: 127, placeholder: 'Front door' });
  const model = h('input', { id: 'add-model', maxlength: 63 });
  const push = h('input', { type: 'radio', name: 'add-type', id: 'add-type-push', value: 'push', checked: true });
  const pull = h('input', { type: 'radio', name: 'add-type', id: 'add-type-pull', value: 'pull' });
  const url = h('input', { id: 'add-pull-url', type: 'url', placeholder: 'rtsp://user:password@192.0.2.10/stream1', maxlength: 1023 });
  const transport = h('select', { id: 'add-transport' }, ['auto', 'tcp', 'udp'].map(t => h('option', { value: t }, t === 'auto' ? 'Automatic' : t.toUpperCase())));
  const test = h('button', { type: 'button', id: 'add-test' }, 'Test connection');
  const testResult = h('p', { id: 'add-test-result', role: 'status', 'aria-live': 'polite' });
  const pullBox = h('div', { class: 'pull-box', hidden: true }, field('RTSP URL', url, 'The camera is reached by camvault; credentials are stored sealed and shown masked.'),
    field('Transport', transport), h('div', { class: 'inline' }, test, testResult));
  const err = errorBox('add-error');
  const result = h('div', { id: 'add-result', class: 'secret-box', hidden: true });
  const form = h('form', { id: 'add-camera-form' },
    h('h3', {}, 'Add a camera'),
    field('Name', name), field('Model (optional)', model),
    h('fieldset', {}, h('legend', {}, 'How does it connect?'),
      h('label', { class: 'radio' }, push, ' The camera sends its stream to camvault (push)'),
      h('label', { class: 'radio' }, pull, ' camvault fetches the stream from the camera (pull, RTSP)')),
    pullBox, err, h('button', { type: 'submit', id: 'add-submit', class: 'primary' }, 'Add camera'), result);
  const sync = () => { pullBox.hidden = !pull.checked; url.required = pull.checked; };
  push.addEventListener('change', sync); pull.addEventListener('change', sync);
  test.addEventListener('click', async () => {
    testResult.textContent = 'Testing…';
    delete testResult.dataset.ok;
    try {
      const r = await api('POST', `homes/${homeId}/cameras/test`, { pull_url: url.value.trim(), transport: transport.value });
      testResult.dataset.ok = r.ok ? '1' : '0';
      // video: {codec, width, height} (width/height null when unknown); audio: {codec}
      const track = x => typeof x === 'string' ? x : [x.codec || 'unknown codec', x.width && x.height ? `${x.width}×${x.height}` : null].filter(Boolean).join(' ');
      testResult.textContent = r.ok ? `Connected: ${[r.video, r.audio].filter(Boolean).map(track).join(', ') || 'stream found'}.`
        : `Could not connect: ${r.error || 'no answer'}.`;
    } catch (e) {
      testResult.dataset.ok = '0';
      testResult.textContent = e.status === 404 || e.status === 405 ? 'Testing is not available on this server yet.' : e.message;
    }
  });
  form.addEventListener('submit', async ev => {
    ev.preventDefault();
    showError(err, null);
    const body = { name: name.value.trim() };
    if (model.value.trim()) body.model = model.value.trim();
    if (pull.checked) { body.pull_url = url.value.trim(); body.transport = transport.value; }
    if (!body.name) { showError(err, { message: 'Give the camera a name.' }); return; }
    try {
      const c = await api('POST', `homes/${homeId}/cameras`, body);
      clear(result).hidden = false;
      if (c.ingest_url) {
        const out = h('input', { id: 'ingest-url', readonly: true, value: c.ingest_url, 'aria-label': 'Ingest URL with its secret' });
        const copy = h('button', { type: 'button', id: 'ingest-copy' }, 'Copy');
        copy.addEventListener('click', () => copyText(c.ingest_url, out));
        result.append(h('h4', {}, `“${c.name}” added. Point the camera at this URL:`), h('div', { class: 'inline' }, out, copy),
          h('p', { class: 'warn' }, 'It contains the camera\u2019s secret and is shown only this once. Keep it safe; you can rotate it later.'),
          h('p', {}, h('a', { href: `#/camera/${c.id}` }, 'Watch it'), ' · ', h('a', { href: location.hash, onclick: () => setTimeout(() => go(location.hash)) }, 'Done')));
      } else {
        result.append(h('p', {}, `“${c.name}” added. camvault is connecting to it. `, h('a', { href: `#/camera/${c.id}` }, 'Watch it')));
      }
      form.reset(); sync();
    } catch (e) { showError(err, e); }
  });
  return form;
}

async function membersSection(homeId, owner, go) {
  const sec = h('section', { class: 'card', 'aria-labelledby': 'h-members' }, h('h2', { id: 'h-members' }, 'People in this home'));
  let members = [];
  try { members = (await api('GET', `homes/${homeId}/members`)).members; } catch (e) { sec.append(h('p', { class: 'form-error' }, e.message)); return sec; }
  const list = h('ul', { id: 'members', class: 'rows' });
  const err = errorBox('members-error');
  for (const m of members) {
    const role = h('select', { 'aria-label': `Role of ${m.login}`, disabled: !owner, dataset: { action: 'role' } },
      Object.keys(ROLES).map(r => h('option', { value: r, selected: r === m.role }, r)));
    role.addEventListener('change', async () => {
      try { await api('PUT', `homes/${homeId}/members/${encodeURIComponent(m.login)}`, { role: role.value }); flash(`${m.login} is now ${role.value}.`, 'ok'); }
      catch (e) { showError(err, e); role.value = m.role; }
    });
    const rm = h('button', { type: 'button', class: 'danger', dataset: { action: 'remove' } }, m.login === session.user.login ? 'Leave' : 'Remove');
    rm.addEventListener('click', async () => {
      if (!await confirmDialog(`Remove ${m.login} from this home? They lose access to its cameras at once.`, 'Remove')) return;
      try { await api('DELETE', `homes/${homeId}/members/${encodeURIComponent(m.login)}`); go(location.hash); } catch (e) { showError(err, e); }
    });
    list.append(h('li', { class: 'member', dataset: { login: m.login } }, h('span', { class: 'row-main' }, m.login),
      h('span', { class: 'row-actions' }, role, owner || m.login === session.user.login ? rm : null)));
  }
  sec.append(list, err);
  if (owner) {
    const login = h('input', { id: 'invite-login', required: true, autocapitalize: 'none', spellcheck: 'false' });
    const role = h('select', { id: 'invite-role' }, Object.entries(ROLES).map(([r, d]) => h('option', { value: r, selected: r === 'viewer' }, d)));
    const ierr = errorBox('invite-error');
    const form = h('form', { id: 'invite-form' }, h('h3', {}, 'Invite someone'), field('Their camvault login', login), field('Role', role), ierr,
      h('button', { type: 'submit', id: 'invite-submit', class: 'primary' }, 'Add to home'));
    form.addEventListener('submit', async ev => {
      ev.preventDefault();
      try {
        await api('PUT', `homes/${homeId}/members/${encodeURIComponent(login.value.trim())}`, { role: role.value });
        flash(`${login.value.trim()} was added as ${role.value}.`, 'ok'); go(location.hash);
      } catch (e) { showError(ierr, e.status === 400 ? { message: 'No such user, or not a valid login.' } : e); }
    });
    sec.append(form);
  }
  return sec;
}

async function loadGrants(homeId, cams) {
  try {
    // The home's list names the camera as {id, name}; the camera's as an id.
    return (await api('GET', `homes/${homeId}/grants`)).grants.map(g => (g.camera && typeof g.camera === 'object'
      ? { ...g, camera: g.camera.id, cameraName: g.camera.name } : g));
  } catch (e) {
    if (e.status === 401) throw e;
    const lists = await Promise.all(cams.map(c => api('GET', `cameras/${c.id}/grants`).then(r => r.grants).catch(() => [])));
    return lists.flat();
  }
}

async function grantsSection(homeId, cams, byId, preselect, go) {
  const sec = h('section', { class: 'card', id: 'sharing', 'aria-labelledby': 'h-share' }, h('h2', { id: 'h-share' }, 'Sharing with guests'));
  const cam = h('select', { id: 'share-camera', required: true }, cams.map(c => h('option', { value: c.id, selected: c.id === preselect }, c.name)));
  const login = h('input', { id: 'share-login', required: true, autocapitalize: 'none', spellcheck: 'false' });
  const until = h('input', { id: 'share-until', type: 'date', required: true });
  const d = new Date(Date.now() + 7 * 86400e3);
  until.value = d.toISOString().slice(0, 10);
  until.min = new Date().toISOString().slice(0, 10);
  const snapOnly = h('input', { type: 'checkbox', id: 'share-snapshot-only' });
  const err = errorBox('share-error');
  const form = h('form', { id: 'share-form' }, h('h3', {}, 'Share one camera'),
    field('Camera', cam), field("Guest's camvault login", login), field('Until (end of the day)', until),
    h('label', { class: 'check' }, snapOnly, ' Pictures only (no live video)'), err,
    h('button', { type: 'submit', id: 'share-submit', class: 'primary', disabled: !cams.length }, 'Share'));
  form.addEventListener('submit', async ev => {
    ev.preventDefault();
    showError(err, null);
    const end = new Date(until.value + 'T23:59:59');
    const secs = Math.round((end.getTime() - Date.now()) / 1000);
    if (!until.value || !(secs > 0)) { showError(err, { message: 'Choose a date from today on.' }); return; }
    try {
      await api('POST', `cameras/${cam.value}/grants`, { login: login.value.trim(), scopes: snapOnly.checked ? ['snapshot'] : ['live', 'snapshot'], expires_in: secs });
      flash(`${byId.get(cam.value).name} is shared with ${login.value.trim()} until ${end.toLocaleDateString()}.`, 'ok');
      go(location.hash);
    } catch (e) { showError(err, e.status === 400 ? { message: e.message.startsWith('Login') ? 'No such user.' : e.message } : e); }
  });
  sec.append(form);

  const grants = (await loadGrants(homeId, cams)).sort((a, b) => (a.expired - b.expired) || (b.created - a.created));
  const table = h('table', { id: 'grants', class: 'grid-table' },
    h('caption', {}, 'Every guest grant in this home'),
    h('thead', {}, h('tr', {}, ['Guest', 'Camera', 'Can', 'Until', ''].map(t => h('th', { scope: 'col' }, t)))));
  const body = h('tbody');
  const gerr = errorBox('grants-error');
  for (const g of grants) {
    const revoke = h('button', { type: 'button', class: 'danger', dataset: { action: 'revoke', grantId: g.id } }, g.expired ? 'Remove' : 'Revoke');
    revoke.addEventListener('click', async () => {
      const c = byId.get(g.camera);
      if (!await confirmDialog(`Stop sharing ${c ? c.name : 'this camera'} with ${g.login}? Their live view ends at once.`, 'Revoke')) return;
      try { await api('DELETE', `grants/${g.id}`); flash(`${g.login} can no longer see ${c ? c.name : 'the camera'}.`, 'ok'); go(location.hash); }
      catch (e) { showError(gerr, e); }
    });
    body.append(h('tr', { class: 'grant', dataset: { grantId: g.id, login: g.login, cameraId: g.camera, expired: g.expired ? '1' : '0' } },
      h('td', {}, g.login), h('td', {}, (byId.get(g.camera) || {}).name || g.cameraName || String(g.camera).slice(0, 8)),
      h('td', {}, g.scopes.includes('live') ? 'Watch live' : 'Pictures'),
      h('td', {}, g.expired ? h('span', { class: 'muted' }, `Expired ${fmtTime(g.expires)}`) : fmtTime(g.expires)),
      h('td', {}, revoke)));
  }
  if (!grants.length) body.append(h('tr', {}, h('td', { colspan: 5, class: 'muted' }, 'Nothing is shared with guests.')));
  table.append(body);
  sec.append(h('div', { class: 'table-wrap' }, table), gerr);
  return sec;
}
