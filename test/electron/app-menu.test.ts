import type { MenuItemConstructorOptions } from 'electron';
import { describe, expect, it } from 'vitest';
import { applicationMenuTemplate } from '../../electron/main/app-menu';

/** Every item of a template, submenus included. */
function allItems(items: readonly MenuItemConstructorOptions[]): MenuItemConstructorOptions[] {
  return items.flatMap((item) => [item, ...(Array.isArray(item.submenu) ? allItems(item.submenu) : [])]);
}

describe('applicationMenuTemplate', () => {
  it('has no menu at all on Windows and Linux', () => {
    expect(applicationMenuTemplate('win32')).toBeNull();
    expect(applicationMenuTemplate('linux')).toBeNull();
  });

  it('keeps only the app, edit and window roles on macOS: no View (DevTools, reload), no Help links', () => {
    const template = applicationMenuTemplate('darwin');
    expect(template?.map((item) => item.role)).toEqual(['appMenu', 'editMenu', 'windowMenu']);
    const items = allItems(template ?? []);
    expect(items.some((item) => item.click !== undefined)).toBe(false);
    const roles = items.map((item) => item.role);
    for (const role of ['toggleDevTools', 'viewMenu', 'help', 'reload', 'forceReload'] as const) expect(roles).not.toContain(role);
  });
});
