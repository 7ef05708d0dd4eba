import type { MenuItemConstructorOptions } from 'electron';

/**
 * The application menu, replacing Electron's default one: that one has Help
 * links that open electronjs.org / GitHub in the system browser (network
 * egress from an offline app) and View → Toggle Developer Tools / Reload.
 *
 * Windows and Linux get no menu at all (null also removes the window's menu
 * bar). macOS keeps a minimal one because its copy, paste, select-all and undo
 * shortcuts in text fields only work through an Edit menu, and Quit / Hide /
 * Minimize live in the app and Window menus; none of these roles opens a URL or
 * DevTools.
 */
export function applicationMenuTemplate(platform: NodeJS.Platform): MenuItemConstructorOptions[] | null {
  if (platform !== 'darwin') return null;
  return [{ role: 'appMenu' }, { role: 'editMenu' }, { role: 'windowMenu' }];
}
