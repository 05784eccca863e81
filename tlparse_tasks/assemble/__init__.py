"""The last task: index.html, modules.js and the static assets from the module records."""
