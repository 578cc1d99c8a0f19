// Linked partner platforms (smart displays, assistants) and, for the
// operator, the global kill switch per integration and per camera model.
import { api, session } from '../api.js';
import { h, clear, field, errorBox, showError, flash, fmtTime, confirmDialog } from '../ui.js';

export async function render(main, { go }) {
  main.append(h('div', { class: 'page-head' }, h('h1', {}, 'Integrations'),
    h('p', { class: 'sub' }, 'Smart displays and partner platforms that may show your cameras.')));
  const sec = h('section', { class: 'card', 'aria-labelledby': 'h-links' }, h('h2', { id: 'h-links' }, 'Linked to your account'));
  const err = errorBox('links-error');
  const { links } = await api('GET', 'me/links');
  const list = h('ul', { id: 'links', class: 'rows' });
  for (const l of links) {
    const off = h('button', { type: 'button', class: 'danger', dataset: { action: 'unlink', linkId: l.id } }, 'Switch off');
    off.addEventListener('click', async () => {
      if (!await confirmDialog(`Switch off ${l.integration.name}? It stops showing your cameras at once and must be linked again to come back.`, 'Switch off')) return;
      try { await api('DELETE', `me/links/${l.id}`); flash(`${l.integration.name} is switched off.`, 'ok'); go(location.hash); } catch (e) { showError(err, e); }
    });
    list.append(h('li', { class: 'link', dataset: { linkId: l.id, integration: l.integration.name } },
      h('span', { class: 'row-main' }, h('strong', {}, l.integration.name), h('span', { class: 'muted' }, ` linked ${fmtTime(l.created)}`)),
      h('span', { class: 'row-actions' }, off)));
  }
  if (!links.length) list.append(h('li', { class: 'muted' }, 'No integration is linked. Link one from the partner’s app (e.g. your smart display).'));
  sec.append(list, err);
  main.append(sec);
  if (session.user.admin) main.append(await operator(go));
  return null;
}

async function operator(go) {
  const sec = h('section', { class: 'card', id: 'kill-switch', 'aria-labelledby': 'h-ops' }, h('h2', { id: 'h-ops' }, 'Kill switch (operator)'),
    h('p', { class: 'sub' }, 'Switching an integration off stops its streams for every user within a second. Turning a camera model off affects only that model.'));
  const err = errorBox('integrations-error');
  const { integrations } = await api('GET', 'integrations');
  let models = [];
  try { models = [...new Set((await api('GET', 'cameras')).cameras.map(c => c.model).filter(Boolean))].sort(); } catch (e) { /* fine */ }
  const table = h('table', { id: 'integrations', class: 'grid-table' }, h('caption', { class: 'visually-hidden' }, 'Integrations'),
    h('thead', {}, h('tr', {}, ['Integration', 'Status', 'Camera models off', ''].map(t => h('th', { scope: 'col' }, t)))));
  const body = h('tbody');
  for (const i of integrations) {
    const toggle = h('button', { type: 'button', class: i.disabled ? 'primary' : 'danger', dataset: { action: i.disabled ? 'enable' : 'disable', integration: i.name } },
      i.disabled ? 'Switch on' : 'Switch off');
    toggle.addEventListener('click', async () => {
      if (!i.disabled && !await confirmDialog(`Switch ${i.name} off for everyone? Its live streams end within a second.`, 'Switch off')) return;
      try { await api('POST', `integrations/${i.id}/${i.disabled ? 'enable' : 'disable'}`, {}); flash(`${i.name} switched ${i.disabled ? 'on' : 'off'}.`, 'ok'); go(location.hash); }
      catch (e) { showError(err, e); }
    });
    const chips = h('span', { class: 'chips' }, i.disabled_models.map(m => {
      const b = h('button', { type: 'button', class: 'chip', dataset: { action: 'enable-model', model: m }, 'aria-label': `Switch ${m} back on for ${i.name}` }, `${m} ✕`);
      b.addEventListener('click', async () => {
        try { await api('POST', `integrations/${i.id}/enable`, { camera_model: m }); go(location.hash); } catch (e) { showError(err, e); }
      });
      return b;
    }));
    const model = h('input', { class: 'model-input', 'aria-label': `Camera model to switch off for ${i.name}`, list: 'model-list', placeholder: 'Camera model', maxlength: 63 });
    const mform = h('form', { class: 'inline' }, model, h('button', { type: 'submit', dataset: { action: 'disable-model' } }, 'Switch model off'));
    mform.addEventListener('submit', async ev => {
      ev.preventDefault();
      if (!model.value.trim()) return;
      try { await api('POST', `integrations/${i.id}/disable`, { camera_model: model.value.trim() }); go(location.hash); } catch (e) { showError(err, e); }
    });
    body.append(h('tr', { class: 'integration', dataset: { integration: i.name, disabled: i.disabled ? '1' : '0' } },
      h('td', {}, h('strong', {}, i.name)),
      h('td', {}, h('span', { class: 'camera-status', dataset: { state: i.disabled ? 'offline' : 'live' } }, i.disabled ? 'Switched off' : 'On')),
      h('td', {}, chips, mform), h('td', {}, toggle)));
  }
  if (!integrations.length) body.append(h('tr', {}, h('td', { colspan: 4, class: 'muted' }, 'No integration is registered.')));
  table.append(body);
  sec.append(h('datalist', { id: 'model-list' }, models.map(m => h('option', { value: m }))), h('div', { class: 'table-wrap' }, table), err);
  return sec;
}
