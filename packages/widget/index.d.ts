// Types of `leadladder`: the headless API and the <lead-ladder> element.
export * from './client.js';
export * from './widget/lead-ladder.js';
