import { t } from '../i18n/strings';
import { FileIcon, Folder, Stack } from './Icons';

/** First run: nothing imported yet. */
export function EmptyState({ onImport, disabled }: { onImport: (kind: 'folder' | 'files') => void; disabled?: boolean }) {
  return (
    <div className="empty-state" data-testid="empty-state">
      <Stack size={44} className="empty-icon" />
      <h2>{t('empty.title')}</h2>
      <p>{t('empty.body')}</p>
      <div className="empty-actions">
        <button type="button" className="button primary" data-testid="empty-import-folder" disabled={disabled} onClick={() => onImport('folder')}>
          <Folder size={15} />
          {t('import.folder')}
        </button>
        <button type="button" className="button" data-testid="empty-import-files" disabled={disabled} onClick={() => onImport('files')}>
          <FileIcon size={15} />
          {t('import.files')}
        </button>
      </div>
    </div>
  );
}
