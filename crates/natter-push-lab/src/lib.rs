//! Local FCM, APNs and Web Push services for tests and the bench (being built).
