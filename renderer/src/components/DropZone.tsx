import { useEffect, useRef, useState } from 'react';
import type { DroppedFile } from '../../../contract/ipc-contract';
import { t } from '../i18n/strings';
import { collectDroppedFiles } from '../lib/dropped-files';
import { Upload } from './Icons';

function hasFiles(e: DragEvent): boolean {
  return Array.from(e.dataTransfer?.types ?? []).includes('Files');
}

/** Whole-window drop target for files and folders; shows an overlay while dragging. */
export function DropZone({ onFiles, disabled }: { onFiles: (files: DroppedFile[]) => void; disabled?: boolean }) {
  const [active, setActive] = useState(false);
  const depth = useRef(0);
  const latest = useRef({ onFiles, disabled });
  useEffect(() => {
    latest.current = { onFiles, disabled };
  });

  useEffect(() => {
    const onEnter = (e: DragEvent) => {
      if (!hasFiles(e)) return;
      e.preventDefault();
      depth.current++;
      setActive(true);
    };
    const onOver = (e: DragEvent) => {
      if (!hasFiles(e)) return;
      e.preventDefault();
      if (e.dataTransfer) e.dataTransfer.dropEffect = latest.current.disabled ? 'none' : 'copy';
    };
    const onLeave = (e: DragEvent) => {
      if (!hasFiles(e)) return;
      depth.current = Math.max(0, depth.current - 1);
      if (depth.current === 0) setActive(false);
    };
    const onDrop = (e: DragEvent) => {
      if (!hasFiles(e)) return;
      e.preventDefault();
      depth.current = 0;
      setActive(false);
      if (latest.current.disabled || !e.dataTransfer) return;
      void collectDroppedFiles(e.dataTransfer).then((files) => latest.current.onFiles(files));
    };
    window.addEventListener('dragenter', onEnter);
    window.addEventListener('dragover', onOver);
    window.addEventListener('dragleave', onLeave);
    window.addEventListener('drop', onDrop);
    return () => {
      window.removeEventListener('dragenter', onEnter);
      window.removeEventListener('dragover', onOver);
      window.removeEventListener('dragleave', onLeave);
      window.removeEventListener('drop', onDrop);
    };
  }, []);

  if (!active) return null;
  return (
    <div className="drop-overlay" data-testid="drop-overlay" aria-live="polite">
      <div className="drop-card">
        <Upload size={40} />
        <div className="drop-title">{t('drop.title')}</div>
        <div className="drop-hint">{t('drop.hint')}</div>
      </div>
    </div>
  );
}
