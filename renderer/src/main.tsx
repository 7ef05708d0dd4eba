import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { App } from './App';
import { getVigil } from './host/vigil-host';
import { t } from './i18n/strings';
import './styles.css';

const container = document.getElementById('root');
if (!container) throw new Error('#root missing from index.html');
const root = createRoot(container);
root.render(<div className="splash">{t('app.loading')}</div>);

getVigil().then(
  (vigil) =>
    root.render(
      <StrictMode>
        <App vigil={vigil} />
      </StrictMode>,
    ),
  (err: unknown) =>
    root.render(
      <div className="splash error" role="alert">
        {t('app.startFailed', { message: err instanceof Error ? err.message : String(err) })}
      </div>,
    ),
);
