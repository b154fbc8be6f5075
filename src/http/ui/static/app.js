// Enhancements for the server-rendered UI; every page works without this file.
// Partial page updates between wizard steps, live extension search, copy
// buttons, and each asset's build state streamed from /status/.../events.
/* global document, window, fetch, history, navigator, EventSource, DOMParser, FormData, URLSearchParams */
'use strict';

function formatSize(bytes) {
  if (bytes >= 1024 * 1024 * 1024) return `${(bytes / 1024 / 1024 / 1024).toFixed(1)} GiB`;
  if (bytes >= 1024 * 1024) return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
  return `${(bytes / 1024).toFixed(1)} KiB`;
}

function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

/** Renders a status event into an asset's status block (the same markup the server renders). */
function renderStatus(block, status, prepareForm) {
  block.dataset.state = status.state;
  block.replaceChildren();
  switch (status.state) {
    case 'cached':
    case 'done':
      block.append(element('span', 'state ready', status.size !== undefined ? `Ready (${formatSize(status.size)})` : 'Ready'));
      break;
    case 'queued':
      block.append(element('span', 'state building', 'Queued'));
      break;
    case 'building': {
      block.append(element('span', 'state building', `Building: ${status.stage || ''}`));
      const bar = element('progress');
      bar.max = 100;
      bar.value = Math.round(status.progress || 0);
      bar.setAttribute('aria-label', 'Build progress');
      bar.textContent = `${bar.value}%`;
      block.append(bar);
      break;
    }
    case 'failed':
      block.append(element('span', 'state failed', `Build failed: ${status.error || ''}`), prepareForm);
      break;
    default:
      block.append(element('span', 'state idle', 'Not built yet'), prepareForm);
  }
}

/** Follows an asset's build until it is cached or failed; `build` starts it. */
function follow(block, prepareForm, build) {
  if (block.stream) return;
  const url = block.dataset.events + (build ? '?build=true' : '');
  const stream = new EventSource(url);
  block.stream = stream;
  const stop = () => {
    stream.close();
    block.stream = undefined;
  };
  stream.onmessage = (event) => {
    const status = JSON.parse(event.data);
    renderStatus(block, status, prepareForm);
    if (status.state === 'cached' || status.state === 'failed') stop();
  };
  stream.onerror = () => stop();
}

function enhanceStatuses(root) {
  for (const block of root.querySelectorAll('.status[data-events]')) {
    const form = block.querySelector('form.prepare');
    const prepareForm = form || element('span');
    block.addEventListener('submit', (event) => {
      if (!event.target.matches('form.prepare')) return;
      event.preventDefault();
      renderStatus(block, { state: 'queued' }, prepareForm);
      follow(block, prepareForm, true);
    });
    if (block.dataset.state === 'queued' || block.dataset.state === 'building') follow(block, prepareForm, false);
  }
}

function enhanceCopyButtons(root) {
  for (const button of root.querySelectorAll('button[data-copy]')) {
    button.hidden = false;
    button.addEventListener('click', async () => {
      const source = document.getElementById(button.dataset.copy);
      try {
        await navigator.clipboard.writeText(source.textContent);
        button.textContent = 'Copied';
      } catch {
        window.getSelection().selectAllChildren(source);
        button.textContent = 'Selected: press Ctrl+C';
      }
      window.setTimeout(() => (button.textContent = 'Copy'), 2000);
    });
  }
}

function enhanceSearch(root) {
  const input = root.querySelector('#extension-search');
  if (!input) return;
  const items = [...root.querySelectorAll('li.extension')];
  const count = root.querySelector('.count');
  const total = count ? count.textContent.match(/of (\d+)/)[1] : String(items.length);
  const apply = () => {
    const needle = input.value.trim().toLowerCase();
    let shown = 0;
    for (const item of items) {
      item.hidden = needle !== '' && !item.dataset.search.includes(needle);
      if (!item.hidden) shown++;
    }
    if (count) count.textContent = `${shown} of ${total} extensions shown; choose none, one or many.`;
  };
  input.addEventListener('input', apply);
  // The server-side filter button is for pages without JavaScript.
  const button = root.querySelector('button[name=filter]');
  if (button) button.hidden = true;
}

function enhance(root) {
  enhanceStatuses(root);
  enhanceCopyButtons(root);
  enhanceSearch(root);
}

/** Loads a wizard step and swaps it into the page instead of a full reload. */
async function navigate(url, push) {
  const response = await fetch(url, { headers: { Accept: 'text/html' } });
  const text = await response.text();
  const next = new DOMParser().parseFromString(text, 'text/html');
  const main = next.getElementById('main');
  if (!main) {
    window.location.assign(url);
    return;
  }
  document.getElementById('main').replaceWith(main);
  document.title = next.title;
  if (push) history.pushState(null, '', url);
  enhance(main);
  const heading = main.querySelector('h1');
  if (heading) {
    heading.tabIndex = -1;
    heading.focus();
  }
}

document.addEventListener('submit', (event) => {
  const form = event.target;
  if (!form.matches('form.step') || form.method.toLowerCase() !== 'get' || event.defaultPrevented) return;
  event.preventDefault();
  const params = new URLSearchParams(new FormData(form));
  if (event.submitter && event.submitter.name) params.append(event.submitter.name, event.submitter.value);
  navigate(`${form.action.replace(/\?.*$/, '')}?${params}`, true).catch(() => form.submit());
});

document.addEventListener('click', (event) => {
  const link = event.target.closest && event.target.closest('.summary a');
  if (!link || event.ctrlKey || event.metaKey || event.shiftKey) return;
  event.preventDefault();
  navigate(link.href, true).catch(() => window.location.assign(link.href));
});

window.addEventListener('popstate', () => navigate(window.location.href, false).catch(() => window.location.reload()));

enhance(document);
