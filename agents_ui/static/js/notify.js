// Placeholder, replaced by notifications.
import {h} from './dom.js';
export class Notifier {
  constructor(ctx) { this.ctx = ctx; }
  button() { return h('span'); }
  apply() {}
}
