import type { AppInfo } from '../../../contract/ipc-contract';
import { t } from '../i18n/strings';
import { formatCount } from '../lib/format';

interface Props {
  readonly shown: number;
  readonly total: number;
  readonly filtered: boolean;
  readonly images: number;
  readonly info: AppInfo | null;
}

/** Footer: how many studies are listed and how many exist. */
export function StatusBar({ shown, total, filtered, images, info }: Props) {
  return (
    <footer className="status-bar">
      <span data-testid="study-count" data-shown={shown} data-total={total}>
        {filtered || shown !== total ? t('status.count', { shown: formatCount(shown), total: formatCount(total) }) : t('status.countAll', { total: formatCount(total) })}
      </span>
      <span className="muted">{t('status.images', { count: formatCount(images) })}</span>
      {shown < total && <span className="warn">{t('status.truncated', { shown: formatCount(shown) })}</span>}
      <span className="spacer" />
      {info && (
        <span className="muted mono" title={info.dataDir}>
          {info.dataDir}
        </span>
      )}
      {info && <span className="muted">v{info.version}</span>}
    </footer>
  );
}
