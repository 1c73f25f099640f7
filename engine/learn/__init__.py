"""Training each round, at the array level: classifier heads on frozen embeddings, temperature
scaling and calibration reports, classification metrics, safe checkpoints, and out-of-fold
probabilities with label-error suspects. numpy in, numpy out; the project layer decides where
things are stored. torch runs on all cores while a head trains or predicts, then is restored.
"""
from .calibration import calibrate, calibration_report, fit_temperature, softmax
from .checkpoint import load_checkpoint, save_checkpoint
from .heads import Head, HeadConfig, predict_proba
from .metrics import classification_metrics, confusion_matrix
from .oof import label_error_scores, out_of_fold_proba, stratified_folds

__all__ = ["Head", "HeadConfig", "calibrate", "calibration_report", "classification_metrics",
           "confusion_matrix", "fit_temperature", "label_error_scores", "load_checkpoint",
           "out_of_fold_proba", "predict_proba", "save_checkpoint", "softmax", "stratified_folds"]
