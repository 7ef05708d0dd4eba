/**
 * The AI state of one study in the viewer: its results (latest per series and
 * model), reviews, the reviewer name, the model list and the queue. Refreshes
 * on `analysis.progress` events, and on `library.changed` (a study deleted
 * takes its results and reviews with it; one re-imported has none of them).
 */
import { useCallback, useEffect, useState } from 'react';
import type { AnalysisJob, AnalysisProgress, AnalysisResult, ModelInfo, ReviewList, VigilError } from '../../../../contract/ipc-contract';
import { useAppServices } from '../../app-context';

export interface QueueEntry extends AnalysisJob {
  readonly phase?: AnalysisProgress['phase'];
}

export interface StudyAnalysis {
  readonly results: readonly AnalysisResult[];
  readonly reviews: ReviewList | null;
  readonly models: readonly ModelInfo[];
  readonly jobs: readonly QueueEntry[];
  readonly reviewerName: string;
  refresh(): void;
  /** Re-reads the model packages (a package may have been added since the viewer opened). */
  refreshModels(): void;
  setReviewerName(name: string): Promise<void>;
}

const ACTIVE = new Set<AnalysisJob['status']>(['pending', 'running']);

export function useStudyAnalysis(studyInstanceUid: string): StudyAnalysis {
  const { vigil, reportError } = useAppServices();
  const [results, setResults] = useState<readonly AnalysisResult[]>([]);
  const [reviews, setReviews] = useState<ReviewList | null>(null);
  const [models, setModels] = useState<readonly ModelInfo[]>([]);
  const [jobs, setJobs] = useState<readonly QueueEntry[]>([]);
  const [reviewerName, setName] = useState('');
  const [tick, setTick] = useState(0);
  const [modelsTick, setModelsTick] = useState(0);
  const refresh = useCallback(() => setTick((n) => n + 1), []);
  const refreshModels = useCallback(() => setModelsTick((n) => n + 1), []);

  const report = useCallback((e: VigilError) => reportError(e), [reportError]);

  useEffect(() => {
    let stale = false;
    void Promise.all([vigil.analysis.results({ studyInstanceUid }), vigil.review.list({ studyInstanceUid }), vigil.analysis.jobs({})]).then(([r, v, j]) => {
      if (stale) return;
      if (r.ok) setResults(r.value.results);
      else report(r.error);
      if (v.ok) setReviews(v.value);
      if (j.ok) setJobs(j.value.jobs.filter((x) => ACTIVE.has(x.status)));
    });
    return () => {
      stale = true;
    };
  }, [vigil, studyInstanceUid, tick, report]);

  useEffect(() => {
    let stale = false;
    void vigil.models.list({}).then((m) => {
      if (!stale && m.ok) setModels(m.value.models);
    });
    return () => {
      stale = true;
    };
  }, [vigil, modelsTick]);

  useEffect(() => {
    let stale = false;
    void vigil.settings.get({}).then((s) => {
      if (!stale && s.ok) setName(s.value.reviewerName);
    });
    return () => {
      stale = true;
    };
  }, [vigil]);

  useEffect(
    () =>
      vigil.on('analysis.progress', (p) => {
        setJobs((list) => {
          const rest = list.filter((j) => j.jobId !== p.jobId);
          return ACTIVE.has(p.status) ? [...rest, p] : rest;
        });
        if (!ACTIVE.has(p.status) && p.studyInstanceUid === studyInstanceUid) refresh();
      }),
    [vigil, studyInstanceUid, refresh],
  );

  // The library changed: this study may have been deleted (with its results, their files and reviews) or re-imported.
  // Results still listed would offer reviews of results that no longer exist and overlays whose files are gone.
  useEffect(() => vigil.on('library.changed', refresh), [vigil, refresh]);

  const setReviewerName = useCallback(
    async (name: string) => {
      const r = await vigil.settings.update({ reviewerName: name });
      if (r.ok) setName(r.value.reviewerName);
      else report(r.error);
    },
    [vigil, report],
  );

  return { results, reviews, models, jobs, reviewerName, refresh, refreshModels, setReviewerName };
}
