// Settings > Web chat: the widgets in the settings file, and the one line that puts each on a site.
import {h} from '../dom.js';
import {copyButton, fetchInto} from './common.js';

export async function render(panel, ctx) {
  const {t} = ctx;
  const list = h('div', {}, h('p', {}, t('settings.loading')));
  panel.append(h('h2', {}, t('settings.webchat.title')), h('p', {class: 'st-hint'}, t('settings.webchat.intro')), list);
  const data = await fetchInto(list, t, () => ctx.api('GET', '/api/v1/admin/webchat/widgets'));
  if (!data) return;
  if (!data.items.length) {
    list.append(h('p', {}, t(data.enabled ? 'settings.webchat.empty' : 'settings.webchat.off')));
    return;
  }
  list.append(h('ul', {class: 'st-list'}, ...data.items.map((w) => item(t, w))));
}

// A relative src (the hub has no public URL): this page's origin is the hub's.
function absolute(url) {
  return url && url.startsWith('/') ? `${location.origin}${url}` : url;
}

function item(t, w) {
  const snippet = w.snippet.replace('src="/', `src="${location.origin}/`);
  const value = h('input', {type: 'text', readonly: '', class: 'st-mono', value: snippet, id: `st-snippet-${w.id}`});
  const [copy, copied] = copyButton(value, snippet, {copy: t('settings.webchat.copy'),
    copied: t('settings.webchat.copied'), byHand: t('settings.webchat.copy_by_hand'),
    label: t('settings.webchat.copy_which', {name: w.name})});
  const origins = w.allowed_origins.length ? w.allowed_origins.join(', ') : t('settings.webchat.own_origin_only');
  const demo = absolute(w.demo_url);
  return h('li', {class: 'st-card'},
    h('h3', {}, `${w.name} (${w.id})`),
    h('dl', {class: 'st-facts'},
      h('dt', {}, t('settings.webchat.origins')), h('dd', {}, origins),
      h('dt', {}, t('settings.webchat.team')), h('dd', {}, w.team || t('settings.webchat.any_agent')),
      h('dt', {}, t('settings.webchat.identity')),
      h('dd', {}, t(w.identity_required ? 'settings.webchat.identity_required' : 'settings.webchat.identity_optional'))),
    h('div', {class: 'st-field'}, h('label', {for: value.id}, t('settings.webchat.snippet')), value),
    copy, copied,
    demo ? h('p', {}, h('a', {href: demo, target: '_blank', rel: 'noopener'}, t('settings.webchat.demo'))) : null);
}
