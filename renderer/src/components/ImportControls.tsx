import { useEffect, useId, useRef, useState } from 'react';
import { t } from '../i18n/strings';
import { ChevronDown, FileIcon, Folder, Upload } from './Icons';

/** The Import button and its two-item menu (folder / files). */
export function ImportControls({ onImport, disabled }: { onImport: (kind: 'folder' | 'files') => void; disabled?: boolean }) {
  const [open, setOpen] = useState(false);
  const rootRef = useRef<HTMLDivElement>(null);
  const firstItem = useRef<HTMLButtonElement>(null);
  const menuId = useId();

  useEffect(() => {
    if (!open) return;
    firstItem.current?.focus();
    const onPointer = (e: PointerEvent) => {
      if (!rootRef.current?.contains(e.target as Node)) setOpen(false);
    };
    const onKey = (e: KeyboardEvent) => {
      if (e.key === 'Escape') setOpen(false);
    };
    document.addEventListener('pointerdown', onPointer);
    document.addEventListener('keydown', onKey);
    return () => {
      document.removeEventListener('pointerdown', onPointer);
      document.removeEventListener('keydown', onKey);
    };
  }, [open]);

  const choose = (kind: 'folder' | 'files') => {
    setOpen(false);
    onImport(kind);
  };

  const onMenuKey = (e: React.KeyboardEvent<HTMLDivElement>) => {
    if (e.key !== 'ArrowDown' && e.key !== 'ArrowUp') return;
    e.preventDefault();
    const items = Array.from(e.currentTarget.querySelectorAll<HTMLButtonElement>('[role="menuitem"]'));
    const at = items.indexOf(document.activeElement as HTMLButtonElement);
    const next = items[(at + (e.key === 'ArrowDown' ? 1 : items.length - 1)) % items.length];
    next?.focus();
  };

  return (
    <div className="import-controls" ref={rootRef}>
      <button
        type="button"
        className="button primary"
        data-testid="import-button"
        aria-haspopup="menu"
        aria-expanded={open}
        aria-controls={menuId}
        disabled={disabled}
        onClick={() => setOpen((o) => !o)}
      >
        <Upload size={15} />
        <span>{t('import.button')}</span>
        <ChevronDown size={14} />
      </button>
      {open && (
        <div className="menu" role="menu" id={menuId} aria-label={t('import.menuLabel')} onKeyDown={onMenuKey}>
          <button ref={firstItem} type="button" role="menuitem" className="menu-item" data-testid="import-folder" onClick={() => choose('folder')}>
            <Folder size={15} />
            {t('import.folder')}
          </button>
          <button type="button" role="menuitem" className="menu-item" data-testid="import-files" onClick={() => choose('files')}>
            <FileIcon size={15} />
            {t('import.files')}
          </button>
        </div>
      )}
    </div>
  );
}
